import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { postFrom, rawRequest } from '../helpers/loopback.js';
import { Agent, authorizeUrl, decide, form, hiddenField, pkce, registerClient, signIn, standardParams, tokenRequest, userWithSession } from '../helpers/oauth.js';
import { call, captureLog, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';
import { until } from '../helpers/until.js';

const INVALID_UTF8 = Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('","redirectUris":["https://a.example/cb"],"scopes":["profile"]}')]);
const deepJson = (depth: number) => `{"model":"m","messages":[{"role":"user","content":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;
const isPage = (reply: { headers: Headers | Record<string, unknown>; text: string }) => {
  const type = reply.headers instanceof Headers ? reply.headers.get('content-type') : reply.headers['content-type'];
  return String(type).startsWith('text/html') && reply.text.includes('<!doctype html>');
};

/** A SQLite server and its first user for a describe block, closed after it. */
function serverWithOwner(set: (ts: TestServer, owner: Seeded) => void): void {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    set(server, await seedUser(server));
  });
  afterAll(async () => server?.close());
}

describe('bad input answers in the endpoint format', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let token: string;

  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, RATE_LIMIT_TOKEN: '0' });
    const session = await userWithSession(ts);
    owner = session.user;
    const client = await clientWithAllScopes(ts, owner);
    token = (await accessTokenFor(ts, session.agent, client, 'generations')).access_token;
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  it('refuses invalid UTF-8 inside a JSON string with 400, never storing U+FFFD', async () => {
    const api = await rawRequest('POST', `${ts.api}/oauth/clients`, { headers: { authorization: `Bearer ${owner.key}`, 'content-type': 'application/json' }, body: INVALID_UTF8 });
    expect(api.status).toBe(400);
    expect(JSON.parse(api.text).error).toMatchObject({ code: 'invalid_json', message: 'The request body is not valid UTF-8.' });
    const character = await rawRequest('POST', `${ts.api}/characters`, {
      headers: { authorization: `Bearer ${owner.key}`, 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"name":"x'), Buffer.from([0xff]), Buffer.from('"}')]),
    });
    expect(character.status).toBe(400);
    const oauth = await rawRequest('POST', `${ts.api}/oauth/token`, { headers: { 'content-type': 'application/json' }, body: INVALID_UTF8 });
    expect(oauth.status).toBe(400);
    expect(JSON.parse(oauth.text)).toMatchObject({ error: 'invalid_request' });
    const formBody = await rawRequest('POST', `${ts.api}/oauth/token`, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=%ff%fe' });
    expect(formBody.status).toBe(400);
    expect(JSON.parse(formBody.text)).toMatchObject({ error: 'invalid_request' });
    expect((await call('GET', `${ts.api}/oauth/clients`, { key: owner.key })).json.data).toEqual([expect.objectContaining({ name: 'Generation App' })]);
  });

  it('answers a malformed percent-encoding in the path in the endpoint format', async () => {
    const clients = await rawRequest('GET', `${ts.api}/oauth/clients/%ff`, { headers: { authorization: `Bearer ${owner.key}` } });
    expect(clients.status).toBe(400);
    expect(JSON.parse(clients.text).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param: null });
    expect(clients.headers['x-request-id']).toBeTruthy();
    const characters = await rawRequest('GET', `${ts.api}/characters/%`, { headers: { authorization: `Bearer ${owner.key}` } });
    expect(JSON.parse(characters.text).error.code).toBe('invalid_request');
    const page = await rawRequest('GET', `${ts.url}/dashboard/%ff`);
    expect(page.status).toBe(400);
    expect(isPage(page)).toBe(true);
    expect(page.headers['x-frame-options']).toBe('DENY');
  });

  it('answers a path parameter longer than 500 characters with 404 not_found, not 414', async () => {
    const reply = await call('GET', `${ts.api}/oauth/clients/client_${'a'.repeat(600)}`, { key: owner.key });
    expect(reply.status).toBe(404);
    expect(reply.json.error.code).toBe('not_found');
  });

  it('refuses JSON nested deeper than 64 levels with 400 before it reaches the upstream', async () => {
    const before = up.received.length;
    const reply = await call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: deepJson(10_000) });
    expect(reply.status).toBe(400);
    expect(reply.json.error).toMatchObject({ code: 'invalid_json', message: 'The request body nests deeper than 64 levels.' });
    expect(up.received.length).toBe(before);
    const shallow = await call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: deepJson(20) });
    expect(shallow.status).toBe(200);
    // The positive anchor: the same count sees a call that does reach the upstream.
    expect(up.received.length).toBe(before + 1);
  });

  it('refuses an OAuth parameter that is a JSON array (client_secret: ["…"]) with invalid_request', async () => {
    const client = await registerClient(ts, owner);
    const reply = await fetch(`${ts.api}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'serika_rt_x', client_id: client.clientId, client_secret: [client.clientSecret] }),
    });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('answers OPTIONS and unsupported content types on pages with HTML pages', async () => {
    const options = await rawRequest('OPTIONS', `${ts.url}/login`);
    expect(options.status).toBe(404);
    expect(isPage(options)).toBe(true);
    const plain = await rawRequest('POST', `${ts.url}/login`, { headers: { 'content-type': 'text/plain' }, body: 'username=a' });
    expect(plain.status).toBe(415);
    expect(isPage(plain)).toBe(true);
    const missing = await rawRequest('GET', `${ts.url}/dashboard/nothing-here`);
    expect(missing.status).toBe(404);
    expect(isPage(missing)).toBe(true);
    expect(missing.headers['x-frame-options']).toBe('DENY');
    expect(missing.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });
});

describe('Location headers and redirects', () => {
  let ts: TestServer;
  let owner: Seeded;
  serverWithOwner((server, seeded) => ([ts, owner] = [server, seeded]));

  it.each(['/dashboard/日本', '/dashboard/\u00e9t\u00e9'])('signs in and up with return_to %s: 303 with an ASCII Location and the cookie', async (returnTo) => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch(`/login?return_to=${encodeURIComponent(returnTo)}`)).text();
    const login = await agent.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username: owner.username, password: 'correct horse battery staple', return_to: returnTo } });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe(new URL(returnTo, 'http://x').pathname);
    expect(login.headers.get('x-request-id')).toBeTruthy();
    expect(agent.cookies.has('serika_session')).toBe(true);

    const fresh = new Agent(ts.url, ts.config.publicUrl);
    const signupPage = await (await fresh.fetch('/signup')).text();
    const signup = await fresh.fetch('/signup', { form: { _csrf: hiddenField(signupPage, '_csrf'), username: `u${Date.now()}${returnTo.length}`, password: 'correct horse battery staple', return_to: returnTo } });
    expect(signup.status).toBe(303);
    expect(signup.headers.get('location')).toMatch(/^[\x21-\x7e]+$/);
    expect(fresh.cookies.has('serika_session')).toBe(true);
  });

  it('refuses a return_to holding a line separator and goes to the dashboard', async () => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch('/login')).text();
    const login = await agent.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username: owner.username, password: 'correct horse battery staple', return_to: '/dashboard/\u2028x' } });
    expect(login.headers.get('location')).toBe('/dashboard');
  });

  it('stores a non-ASCII redirect URI serialized, and Allow redirects to it with a 303 (the grant is kept working)', async () => {
    const client = await registerClient(ts, owner, { redirectUris: ['https://c.example/✓'] });
    const stored = await call('GET', `${ts.api}/oauth/clients/${client.clientId}`, { key: owner.key });
    expect(stored.json.redirectUris).toEqual(['https://c.example/%E2%9C%93']);
    const agent = await signIn(ts, owner.username);
    for (const sent of ['https://c.example/✓', 'https://c.example/%E2%9C%93']) {
      const page = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { redirect_uri: sent, prompt: 'consent' })));
      expect(page.status).toBe(200);
      const allowed = await decide(agent, ts, await page.text(), 'allow');
      expect(allowed.status).toBe(303);
      expect(allowed.headers.get('location')).toMatch(/^https:\/\/c\.example\/%E2%9C%93\?code=serika_ac_/);
    }
  });

  it('re-checks the redirect URI at the decision: removed while the page was open → error page, no code', async () => {
    const client = await registerClient(ts, owner, { redirectUris: ['https://a.example/old', 'https://a.example/new'] });
    const agent = await signIn(ts, owner.username);
    const page = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { redirect_uri: 'https://a.example/old' })));
    const html = await page.text();
    await call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: owner.key, json: { redirectUris: ['https://a.example/new'] } });
    const decision = await decide(agent, ts, html, 'allow');
    expect(decision.status).toBe(400);
    expect(decision.headers.get('location')).toBeNull();
    expect(await decision.text()).toContain('changed its registration');
  });

  it('shows the redirect_uri that was sent (never the registered list) with the usual causes', async () => {
    const client = await registerClient(ts, owner, { redirectUris: ['http://127.0.0.1:8080/callback', 'https://secret-registered.example/cb'] });
    const agent = await signIn(ts, owner.username);
    const page = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { redirect_uri: 'http://localhost:8080/callback/' })));
    const text = await page.text();
    expect(page.status).toBe(400);
    expect(text).toContain('http://localhost:8080/callback/');
    expect(text).toContain('127.0.0.1');
    expect(text).toContain('trailing slash');
    expect(text).not.toContain('secret-registered.example');
  });

  it('names the app asking on the sign-in page of an authorization request', async () => {
    const client = await registerClient(ts, owner, { name: 'Quill Writer' });
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const start = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge)));
    expect(start.status).toBe(303);
    const login = await agent.fetch(start.headers.get('location')!);
    expect(await login.text()).toContain('to continue to <strong>Quill Writer</strong>');
  });
});

describe('sessions, CSRF and the same-origin check', () => {
  let ts: TestServer;
  let owner: Seeded;
  serverWithOwner((server, seeded) => ([ts, owner] = [server, seeded]));

  it('binds the CSRF token to the session: a pair from one session fails with another session cookie', async () => {
    const alice = await signIn(ts, owner.username);
    const other = await seedUser(ts);
    const bob = await signIn(ts, other.username);
    const alicePage = await (await alice.fetch('/dashboard/keys')).text();
    // Bob's session cookie with Alice's CSRF cookie and token.
    const forged = new Agent(ts.url, ts.config.publicUrl);
    for (const [name, value] of alice.cookies) forged.cookies.set(name, value);
    forged.cookies.set('serika_session', bob.cookies.get('serika_session')!);
    const reply = await forged.fetch('/dashboard/keys', { form: { _csrf: hiddenField(alicePage, '_csrf'), name: 'forged' } });
    expect(reply.status).toBe(403);
    // The same token with Alice's own cookies works.
    expect((await alice.fetch('/dashboard/keys', { form: { _csrf: hiddenField(alicePage, '_csrf'), name: 'mine' } })).status).toBe(201);
  });

  it('rotates the CSRF secret at sign-in and sign-out, and a pre-sign-in token no longer works', async () => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch('/login')).text();
    const before = agent.cookies.get('serika_csrf');
    expect(before).toBeTruthy();
    await agent.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username: owner.username, password: 'correct horse battery staple' } });
    expect(agent.cookies.has('serika_csrf')).toBe(false);
    const stale = await agent.fetch('/logout', { form: { _csrf: hiddenField(page, '_csrf') } });
    expect(stale.status).toBe(403);
    const dashboard = await (await agent.fetch('/dashboard')).text();
    expect(agent.cookies.get('serika_csrf')).not.toBe(before);
    const out = await agent.fetch('/logout', { form: { _csrf: hiddenField(dashboard, '_csrf') } });
    expect(out.status).toBe(303);
    expect(agent.cookies.has('serika_csrf')).toBe(false);
    expect(agent.cookies.has('serika_session')).toBe(false);
  });

  it('refuses an Origin equal to the Host header but not to PUBLIC_URL', async () => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch('/login')).text();
    const reply = await agent.fetch('/login', {
      form: { _csrf: hiddenField(page, '_csrf'), username: owner.username, password: 'correct horse battery staple' },
      headers: { origin: ts.url },
    });
    expect(ts.url).not.toBe(ts.config.publicUrl);
    expect(reply.status).toBe(403);
  });

  it('answers a dashboard POST without a session with 303 to /login, never an empty 401', async () => {
    const reply = await rawRequest('POST', `${ts.url}/dashboard/keys`, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' });
    expect(reply.status).toBe(303);
    expect(reply.headers.location).toBe('/login');
  });

  it('slows the current-password check of the password-change form like sign-in', async () => {
    const user = await seedUser(ts);
    const agent = await signIn(ts, user.username);
    const times: number[] = [];
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push(await ts.services.throttle.delayFor(user.username));
      const page = await (await agent.fetch('/dashboard/account')).text();
      const started = performance.now();
      const reply = await agent.fetch('/dashboard/account/password', { form: { _csrf: hiddenField(page, '_csrf'), current_password: `wrong-${i}-password`, new_password: 'another good password' } });
      times.push(performance.now() - started);
      expect(reply.status).toBe(400);
    }
    // Each wrong current password counts as a sign-in failure would, and the fourth attempt waited
    // out the delay. A lower bound only: the hashing's own time varies with the machine's load, so
    // comparing two attempts' wall times is not a rule (it failed CI once: 266 ms against 81 + 200).
    expect(delays).toEqual([0, 0, 0, 250]);
    expect(times[3]!).toBeGreaterThanOrEqual(240);
    expect(await ts.services.throttle.delayFor(user.username)).toBe(500);
  });
});

describe('names that could disguise an app or a user', () => {
  let ts: TestServer;
  let owner: Seeded;
  beforeAll(async () => {
    ts = await startTestServer('sqlite');
    owner = await seedUser(ts);
  });
  afterAll(async () => ts?.close());

  it.each([
    ['only a zero-width space', '\u200b'],
    ['a bidi override', '\u202eevil'],
    ['an isolate', 'a\u2066b'],
    ['only spaces', '   '],
    ['a line separator', 'a\u2028b'],
  ])('refuses a client name with %s', async (_label, name) => {
    const reply = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name, redirectUris: ['https://a.example/cb'], scopes: ['profile'] } });
    expect(reply.status).toBe(400);
    expect(reply.json.error.param).toBe('name');
  });

  // Letters and a symbol by Unicode's categories, yet drawn as blank space: "Goo\u3164gle" reads as "Goo gle".
  const blanks = [
    ['the Hangul choseong filler', '\u115f'],
    ['the Hangul jungseong filler', '\u1160'],
    ['the Hangul filler', '\u3164'],
    ['the halfwidth Hangul filler', '\uffa0'],
    ['the braille blank', '\u2800'],
  ];

  it.each(blanks)('refuses %s, alone or inside a name, wherever a name is read: client, character, API key, registration', async (_label, blank) => {
    for (const name of [blank, `Goo${blank}gle`]) {
      const client = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name, redirectUris: ['https://a.example/cb'], scopes: ['profile'] } });
      expect(client.status).toBe(400);
      expect(client.json.error.param).toBe('name');
      const character = await call('POST', `${ts.api}/characters`, { key: owner.key, json: { name } });
      expect(character.status).toBe(400);
      expect(character.json.error.param).toBe('name');
      await expect(ts.services.apiKeys.create(owner.userId, name)).rejects.toMatchObject({ param: 'name' });
      const registered = await call('POST', `${ts.api}/oauth/register`, { json: { client_name: name, redirect_uris: ['http://127.0.0.1:9/cb'] } });
      expect(registered.status).toBe(400);
      expect(registered.json.error).toBe('invalid_client_metadata');
    }
  });

  it('refuses a renamed character whose new name is blank', async () => {
    const created = await call('POST', `${ts.api}/characters`, { key: owner.key, json: { name: 'Nova' } });
    const renamed = await call('PATCH', `${ts.api}/characters/${created.json.id}`, { key: owner.key, json: { name: '\u2800\u2800' } });
    expect(renamed.status).toBe(400);
    expect(renamed.json.error.param).toBe('name');
  });

  it('accepts names in any script, with emoji', async () => {
    const reply = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name: '書く Writer ✍️', redirectUris: ['https://a.example/cb'], scopes: ['profile'] } });
    expect(reply.status).toBe(201);
  });

  it.each(['_alice', 'alice.', '-bob', 'ab'])('refuses the username %s', async (username) => {
    await expect(ts.services.users.create({ username, password: 'correct horse battery staple' })).rejects.toMatchObject({ param: 'username' });
  });
});

describe('client lockout by anyone who knows a client_id', () => {
  let ts: TestServer;
  let owner: Seeded;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { RATE_LIMIT_TOKEN: '5' });
    owner = await seedUser(ts);
  });
  afterAll(async () => ts?.close());

  it('junk with a wrong secret from many addresses never makes the real client 429', async () => {
    const client = await registerClient(ts, owner);
    for (let i = 0; i < 12; i++) {
      const junk = await postFrom(`127.0.1.${i + 1}`, `${ts.api}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: client.clientId, client_secret: 'wrong' }));
      expect(junk.status).toBe(401);
    }
    const real = await postFrom('127.0.2.1', `${ts.api}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: 'serika_rt_x', client_id: client.clientId, client_secret: client.clientSecret! }));
    expect(real.status).toBe(400);
    expect(JSON.parse(real.text).error).toBe('invalid_grant');
  });

  it('counts failed authentications per IP × client_id', async () => {
    const client = await registerClient(ts, owner);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: 'x', client_id: client.clientId, client_secret: `wrong${i}` })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });
});

describe('slow bodies', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { REQUEST_TIMEOUT: '1' });
  });
  afterAll(async () => ts?.close());

  it.each(['/api/openai/v1/oauth/token', '/login'])('closes a connection dripping a body into %s after REQUEST_TIMEOUT', async (path) => {
    const { port } = new URL(ts.url);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    const started = Date.now();
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n`);
    const drip = setInterval(() => socket.writable && socket.write('a'), 300);
    const end = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 8000))]);
    clearInterval(drip);
    socket.destroy();
    expect(end).toBeGreaterThan(0);
    expect(end - started).toBeLessThan(5000);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('https deployments', () => {
  let ts: TestServer;
  const { lines, logStream } = captureLog();
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { PUBLIC_URL: 'https://auth.example.com', LOG_LEVEL: 'warn' }, { logStream });
  });
  afterAll(async () => ts?.close());

  it('sends Strict-Transport-Security and __Host- cookies', async () => {
    const reply = await fetch(`${ts.url}/login`);
    expect(reply.headers.get('strict-transport-security')).toBe('max-age=31536000');
    expect(reply.headers.getSetCookie().join('\n')).toMatch(/^__Host-serika_csrf=.*; Path=\/; HttpOnly; Secure; SameSite=Strict/m);
  });

  it('warns at start that /metrics is open without METRICS_TOKEN', () => {
    expect(lines.join('')).toContain('METRICS_TOKEN is not set');
  });

  it('serves /docs with the page headers', async () => {
    const reply = await fetch(`${ts.url}/docs`, { redirect: 'follow' });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-frame-options')).toBe('DENY');
    expect(reply.headers.get('referrer-policy')).toBe('no-referrer');
    expect(reply.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });
});

describe('PORT=0 without PUBLIC_URL', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite');
  });
  afterAll(async () => ts?.close());

  it('derives the issuer from the picked port before the app is built, and every reader sees it', async () => {
    const port = new URL(ts.url).port;
    expect(ts.config.publicUrl).toBe(`http://localhost:${port}`);
    expect(Object.isFrozen(ts.config)).toBe(true);
    const metadata: any = await (await fetch(`${ts.url}/.well-known/oauth-authorization-server`)).json();
    expect(metadata.issuer).toBe(ts.config.publicUrl);
    expect(metadata.authorization_endpoint).toBe(`${ts.config.publicUrl}/api/openai/v1/oauth/authorize`);
    const docs: any = await (await fetch(`${ts.url}/docs/openapi.json`)).json();
    expect(docs.servers[0].url).toBe(ts.config.publicUrl);
  });
});

describe('a client that hangs up mid-body', () => {
  let ts: TestServer;
  const { lines, logStream } = captureLog();
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { LOG_LEVEL: 'info' }, { logStream });
  });
  afterAll(async () => ts?.close());

  it.each(['/api/openai/v1/oauth/token', '/api/openai/v1/oauth/clients', '/login'])('is never logged as "database unavailable" (%s)', async (path) => {
    const { port } = new URL(ts.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`);
    const entries = () => lines.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { reqId?: string; msg: string; req?: { url: string } });
    const incoming = await until(() => entries().find((e) => e.msg === 'incoming request' && e.req?.url === path), { message: `the server to log the incoming ${path} request` });
    socket.destroy();
    // The positive anchor: the server logs how this very request ended (answered before its body, or
    // the hang-up); only once it has is the absence of an error line below worth anything.
    const ending = await until(() => entries().find((e) => e.reqId === incoming.reqId && e.msg !== 'incoming request'), { message: `the server to log how the ${path} request ended` });
    expect(ending.msg).toMatch(/^(client closed the connection before its request was read|request completed)$/);
    const log = lines.join('');
    expect(log).not.toMatch(/database unavailable|service unavailable/);
    expect(log).not.toMatch(/"level":50/);
  });
});
