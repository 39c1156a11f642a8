import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { authorizeUrl, decide, expectErrorPage, form, pkce, returnLink, standardParams, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, captureLog, randomAddress, startInstance, startPair, startTestServer, type TestServer } from '../helpers/server.js';
import { DOCUMENT_FETCH_LIMITS } from '../../src/clients/metadata-documents.js';

/** A web server holding client ID metadata documents, counting what it is asked. */
async function documentServer() {
  const hits: string[] = [];
  let flaky = 0;
  let origin = '';
  const doc = (path: string, extra: Record<string, unknown> = {}) => ({
    client_id: `${origin}${path}`,
    client_name: 'Desk Agent',
    redirect_uris: ['http://127.0.0.1:7777/callback'],
    ...extra,
  });
  const routes: Record<string, (request: IncomingMessage) => [number, Record<string, string>, string] | Promise<[number, Record<string, string>, string]>> = {
    '/good.json': () => [200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }, JSON.stringify(doc('/good.json', { logo_uri: 'https://agent.example/logo.png', extra_field: 1 }))],
    '/web.json': () => [200, { 'content-type': 'application/json' }, JSON.stringify(doc('/web.json', { redirect_uris: ['https://agent.example/cb'] }))],
    '/redirect.json': () => [302, { location: `${origin}/good.json` }, ''],
    '/slow.json': () => new Promise((resolve) => setTimeout(() => resolve([200, { 'content-type': 'application/json' }, JSON.stringify(doc('/slow.json'))]), 6500)),
    '/big.json': () => [200, { 'content-type': 'application/json' }, JSON.stringify(doc('/big.json', { padding: 'x'.repeat(6 * 1024) }))],
    '/text.json': () => [200, { 'content-type': 'text/html' }, '<html>hello</html>'],
    '/other.json': () => [200, { 'content-type': 'application/json' }, JSON.stringify(doc('/other.json', { client_id: 'https://someone.else/client.json' }))],
    '/no-redirects.json': () => [200, { 'content-type': 'application/json' }, JSON.stringify({ client_id: `${origin}/no-redirects.json`, client_name: 'X' })],
    '/secret.json': () => [200, { 'content-type': 'application/json' }, JSON.stringify(doc('/secret.json', { token_endpoint_auth_method: 'client_secret_basic' }))],
    '/flaky.json': () => (++flaky === 1 ? [500, {}, 'oops'] : [200, { 'content-type': 'application/json' }, JSON.stringify(doc('/flaky.json'))]),
    '/delayed.json': () => new Promise((resolve) => setTimeout(() => resolve([200, { 'content-type': 'application/json' }, JSON.stringify(doc('/delayed.json'))]), 300)),
  };
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    hits.push(request.url ?? '');
    const route = routes[request.url ?? ''];
    if (!route) return response.writeHead(404).end();
    const [status, headers, body] = await route(request);
    if (!response.destroyed) response.writeHead(status, headers).end(body);
  };
  // A route that throws drops the connection (failing the fetch that asked) and says why.
  const server: Server = createServer((request, response) => void handle(request, response).catch((error: unknown) => {
    console.error(error);
    response.destroy();
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, hits, port: (server.address() as AddressInfo).port, close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The one text every failed fetch shows (SPEC §8: no port-scanning oracle), the document URL aside. */
const FETCH_FAILED = /The client_id metadata document at \S+ could not be fetched\. Serika fetches it with GET from a public address, without following redirects, and needs a 200 answer holding a JSON object of at most 5 KB within 5 s\./;
const errorText = (page: string) => /<p class="error">([\s\S]*?)<\/p>/.exec(page)?.[1] ?? '';
/** The log lines that say why a fetch failed, for the document URL. */
const reasons = (lines: string[], url: string) =>
  lines.filter((l) => l.includes('could not be fetched') && l.includes(JSON.stringify(url))).map((l) => (JSON.parse(l) as { reason: string }).reason);

describe.each(DIALECTS)('client ID metadata documents (%s)', (dialect) => {
  let ts: TestServer;
  let agent: Agent;
  let docs: Awaited<ReturnType<typeof documentServer>>;
  const log = captureLog();

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    docs = await documentServer();
    // Documents on 127.0.0.1 over http: the development setting, for the positive cases only.
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', CIMD_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'info' }, { logStream: log.logStream });
    agent = (await userWithSession(ts, `cimd_${dialect}`)).agent;
  });
  afterAll(async () => {
    await ts?.close();
    await docs?.close();
  });

  const client = (path: string, redirectUri = 'http://127.0.0.1:7777/callback'): TestClient => ({ clientId: docs.origin + path, clientSecret: null, redirectUri, scopes: ['profile'] });
  const authorize = (c: TestClient, extra = {}) => agent.fetch(authorizeUrl(ts, standardParams(c, pkce().challenge, { scope: 'profile', ...extra })));

  describe.skipIf(!dialectAvailable(dialect))('documents', () => {
    it('a URL client_id signs in: consent names the host, says Serika has not verified it, warns of loopback-only redirects; public client at the token endpoint', async () => {
      const c = client('/good.json');
      const { challenge, verifier } = pkce();
      const page = await agent.fetch(authorizeUrl(ts, standardParams(c, challenge, { scope: 'profile' })));
      const text = await page.text();
      expect(page.status, text).toBe(200);
      expect(text).toContain('Desk Agent');
      expect(text).toContain('Serika has not verified this app.');
      expect(text).toContain(`127.0.0.1:${docs.port}`);
      expect(text).toContain('can only send you back to a program on this computer');
      const back = await decide(agent, ts, text, 'allow');
      const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
      // The loopback redirect URI may vary its port (RFC 8252 §7.3) — here it does not.
      const tokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: c.redirectUri, code_verifier: verifier, client_id: c.clientId }));
      expect(tokens.status, JSON.stringify(tokens.json)).toBe(200);
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.json.access_token}` } })).status).toBe(200);
      // A secret is an authentication failure for a public client.
      const refresh = await tokenRequest(ts, form({ grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token, client_id: c.clientId, client_secret: 'x' }));
      expect(refresh.json.error).toBe('invalid_client');
    });

    it('is cached as Cache-Control says, always asks consent, and web redirect URIs carry no loopback warning', async () => {
      expect((await authorize(client('/good.json'))).status).toBe(200);
      // The positive anchor: the count below sees this document's fetches (this one's, or an earlier test's).
      expect(docs.hits).toContain('/good.json');
      const before = docs.hits.filter((h) => h === '/good.json').length;
      for (let i = 0; i < 3; i++) {
        const page = await authorize(client('/good.json'));
        expect(page.status).toBe(200);
      }
      expect(docs.hits.filter((h) => h === '/good.json').length).toBe(before);
      const web = await (await authorize(client('/web.json', 'https://agent.example/cb'))).text();
      expect(web).toContain('Serika has not verified this app.');
      expect(web).not.toContain('program on this computer');
    });

    it('authorization errors of a document client are pages, never redirects; Deny offers a link back (RFC 9700 §4.11.2)', async () => {
      const c = client('/good.json');
      await expectErrorPage(await authorize(c, { response_type: 'token' }), 'unsupported_response_type');
      await expectErrorPage(await authorize(c, { scope: 'profile admin' }), 'invalid_scope');
      const denied = await expectErrorPage(await decide(agent, ts, await (await authorize(c)).text(), 'deny'), 'access_denied');
      expect(denied).toContain('Return to 127.0.0.1:7777');
      expect(returnLink(denied)!.searchParams.get('error')).toBe('access_denied');
    });

    it('a redirect_uri the document does not list → error page naming the document, never a redirect', async () => {
      const page = await authorize(client('/good.json', 'https://evil.example/cb'));
      expect(page.status).toBe(400);
      expect(page.headers.get('location')).toBeNull();
      expect(await page.text()).toContain(`client_id document at ${docs.origin}/good.json has redirect_uris that do not include https://evil.example/cb`);
    });

    it.each([
      ['/redirect.json', 'answered 302'],
      ['/big.json', 'larger than 5120 bytes'],
      ['/text.json', 'is not JSON'],
      ['/missing.json', 'HTTP 404'],
    ])('%s → invalid_client page with the one fetch-failure text; the reason (%s) goes to the log only', async (path, reason) => {
      const page = await authorize(client(path));
      const text = await page.text();
      expect(page.status).toBe(400);
      expect(text).toContain('invalid_client');
      expect(errorText(text)).toMatch(FETCH_FAILED);
      expect(text).not.toContain(reason);
      expect(reasons(log.lines, docs.origin + path).join()).toContain(reason);
    });

    it.each([
      ['/other.json', 'not its own URL'],
      ['/no-redirects.json', 'has no redirect_uris'],
      ['/secret.json', 'accepts only none'],
    ])('%s, fetched but wrong → invalid_client page naming the problem: %s', async (path, words) => {
      const page = await authorize(client(path));
      const text = await page.text();
      expect(page.status).toBe(400);
      expect(text).toContain('invalid_client');
      expect(text).toContain(words);
    });

    it('every failed fetch reads the same, whatever failed: refused, 404, 500, a redirect, too large, not JSON', async () => {
      const closed = `http://127.0.0.1:${docs.port + 1}/nothing-listens.json`;
      const texts = new Set<string>();
      for (const url of [closed, ...['/missing.json', '/redirect.json', '/big.json', '/text.json'].map((p) => docs.origin + p)]) {
        const page = await authorize({ clientId: url, clientSecret: null, redirectUri: 'http://127.0.0.1:7777/callback', scopes: ['profile'] });
        texts.add(errorText(await page.text()).replace(url, 'URL'));
      }
      expect(texts.size).toBe(1);
      expect(reasons(log.lines, closed).join()).toMatch(/ECONNREFUSED/);
    });

    // The fetch is the same on every dialect: waited for once.
    it.skipIf(dialect !== 'sqlite')('a document that answers too slowly → invalid_client after 5 s, with the same text', async () => {
      const started = Date.now();
      const page = await authorize(client('/slow.json'));
      expect(page.status).toBe(400);
      const text = await page.text();
      expect(errorText(text)).toMatch(FETCH_FAILED);
      expect(text).not.toContain('no answer');
      expect(reasons(log.lines, `${docs.origin}/slow.json`).join()).toContain('no answer within 5 s');
      expect(Date.now() - started).toBeLessThan(6500);
    }, 15_000);

    it('concurrent requests for one document share one fetch', async () => {
      const pages = await Promise.all(Array.from({ length: 6 }, () => authorize(client('/delayed.json'))));
      expect(pages.map((p) => p.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(docs.hits.filter((h) => h === '/delayed.json')).toHaveLength(1);
    });

    it('failures are never cached: the next attempt fetches again', async () => {
      expect((await authorize(client('/flaky.json'))).status).toBe(400);
      expect((await authorize(client('/flaky.json'))).status).toBe(200);
      expect(docs.hits.filter((h) => h === '/flaky.json')).toHaveLength(2);
    });
  });

  if (dialect === 'postgres') {
    it.skipIf(!dialectAvailable(dialect))('two instances agree on a document client: fetched at one, redeemed at the other', async () => {
      const other = await startInstance(ts.database.url, { RATE_LIMIT_TOKEN: '0', CIMD_ALLOW_PRIVATE: 'true', PUBLIC_URL: ts.config.publicUrl });
      try {
        const c = client('/good.json');
        const { challenge, verifier } = pkce();
        const page = await agent.fetch(authorizeUrl(ts, standardParams(c, challenge, { scope: 'profile' })));
        const code = new URL((await decide(agent, ts, await page.text(), 'allow')).headers.get('location')!).searchParams.get('code')!;
        const tokens = await tokenRequest(other, form({ grant_type: 'authorization_code', code, redirect_uri: c.redirectUri, code_verifier: verifier, client_id: c.clientId }));
        expect(tokens.status).toBe(200);
      } finally {
        await other.close();
      }
    });
  }
});

describe('client ID metadata documents are never fetched from private addresses', () => {
  let ts: TestServer;
  let agent: Agent;
  let docs: Awaited<ReturnType<typeof documentServer>>;
  const log = captureLog();
  beforeAll(async () => {
    docs = await documentServer();
    ts = await startTestServer('sqlite', { LOG_LEVEL: 'info' }, { logStream: log.logStream });
    agent = (await userWithSession(ts, 'cimd_private')).agent;
  });
  afterAll(async () => {
    await ts?.close();
    await docs?.close();
  });

  // A private address is a failed fetch like any other: the page does not say which (the log does).
  it.each([
    (p: number) => [`http://127.0.0.1:${p}/good.json`, 'invalid_request', 'https URL'],
    (p: number) => [`https://127.0.0.1:${p}/good.json`, 'invalid_client', 'could not be fetched'],
    (p: number) => [`https://localhost:${p}/good.json`, 'invalid_client', 'could not be fetched'],
    (p: number) => [`https://[::1]:${p}/good.json`, 'invalid_client', 'could not be fetched'],
    () => ['https://10.1.2.3/client.json', 'invalid_client', 'could not be fetched'],
    () => ['https://169.254.169.254/latest/meta-data.json', 'invalid_client', 'could not be fetched'],
    () => ['https://0x7f.1/client.json', 'invalid_request', 'normal form'],
    () => ['https://[::ffff:7f00:1]/client.json', 'invalid_client', 'could not be fetched'],
    () => ['https://app.example.com/client.json#f', 'invalid_request', 'fragment'],
    () => ['https://user:pw@app.example.com/client.json', 'invalid_request', 'user name'],
    () => ['https://app.example.com/a/../client.json', 'invalid_request', 'path segments'],
    () => ['https://app.example.com/', 'invalid_request', 'must have a path'],
  ])('case %#', async (make) => {
    const [clientId, code, words] = make(docs.port) as [string, string, string];
    const before = docs.hits.length;
    const page = await agent.fetch(authorizeUrl(ts, standardParams({ clientId, clientSecret: null, redirectUri: 'http://127.0.0.1:7777/callback', scopes: ['profile'] }, pkce().challenge)));
    const text = await page.text();
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(text).toContain(code);
    expect(text).toContain(words);
    expect(text).not.toContain('which is not');
    expect(docs.hits.length).toBe(before);
    // The positive anchor: the log names what the page does not, the address refused before any connection.
    if (code === 'invalid_client') expect(reasons(log.lines, clientId).join()).toContain('which is not a public address');
  });

  it('the log says which address was refused', async () => {
    const url = 'https://169.254.169.254/latest/meta-data.json';
    await agent.fetch(authorizeUrl(ts, standardParams({ clientId: url, clientSecret: null, redirectUri: 'http://127.0.0.1:7777/callback', scopes: ['profile'] }, pkce().challenge)));
    expect(reasons(log.lines, url).join()).toContain('169.254.169.254, which is not a public address');
  });

  it('CIMD=off: a URL client_id is refused with a clear page and the metadata says so', async () => {
    const off = await startTestServer('sqlite', { CIMD: 'off' });
    try {
      const offAgent = (await userWithSession(off, 'cimd_off')).agent;
      const page = await offAgent.fetch(authorizeUrl(off, standardParams({ clientId: 'https://app.example.com/client.json', clientSecret: null, redirectUri: 'https://app.example.com/cb', scopes: ['profile'] }, pkce().challenge)));
      expect(page.status).toBe(400);
      expect(await page.text()).toContain('CIMD=off');
      expect((await call('GET', `${off.url}/.well-known/oauth-authorization-server`)).json.client_id_metadata_document_supported).toBe(false);
    } finally {
      await off.close();
    }
  });
});

/**
 * SPEC §8: a stranger names the URL, so fetches are throttled per requesting
 * IP and, for documents not stored yet, per host (DOCUMENT_FETCH_LIMITS): no
 * scanning or flooding through Serika. TRUST_PROXY=1 lets each test pick its
 * client address by X-Forwarded-For.
 */
describe.each([
  ['counted in the process', false],
  ['counted in Redis, across two instances', true],
])('metadata document fetches are throttled (%s)', (_label, withRedis) => {
  const redisUrl = process.env.TEST_REDIS_URL;
  const { perIp, perHost } = DOCUMENT_FETCH_LIMITS;
  let a: TestServer;
  let b: TestServer;
  let close: () => Promise<void>;
  let docs: Awaited<ReturnType<typeof documentServer>>;
  const address = randomAddress;
  // Two more spellings of loopback are two more hosts: room under the per-host limit for the per-IP test,
  // which leaves 127.0.0.1 to the per-host one.
  const otherHosts = () => [`http://localhost:${docs.port}`, `http://[::1]:${docs.port}`];

  beforeAll(async () => {
    if (withRedis && !redisUrl) return;
    docs = await documentServer();
    ({ a, b, close } = await startPair({ CIMD_ALLOW_PRIVATE: 'true', TRUST_PROXY: '1' }, withRedis ? redisUrl! : null));
  });
  afterAll(async () => {
    await close?.();
    await docs?.close();
  });
  // Redis keeps a host's count for a minute, across runs too: each test starts its hosts from zero.
  const forgetHosts = async () => {
    if (withRedis) await a.services.redis!.del(...['127.0.0.1', 'localhost', '[::1]'].map((h) => `serika:rl:cimd:host:${h}`));
  };

  const ask = (ts: TestServer, ip: string, clientId: string) =>
    fetch(authorizeUrl(ts, standardParams({ clientId, clientSecret: null, redirectUri: 'http://127.0.0.1:7777/callback', scopes: ['profile'] }, pkce().challenge)), {
      headers: { 'x-forwarded-for': ip },
      redirect: 'manual',
    });
  const unique = (origin: string) => `${origin}/made-up/${Math.random().toString(36).slice(2)}.json`;

  it.skipIf(withRedis && !redisUrl)(`one address may cause ${perIp} fetches a minute; the next is a 429 page with Retry-After and fetches nothing`, async () => {
    await forgetHosts();
    const ip = address();
    for (let i = 0; i < perIp; i++) {
      const page = await ask(i % 2 ? b : a, ip, unique(otherHosts()[i % 2]!));
      expect(page.status, `fetch ${i + 1}`).toBe(400);
    }
    const before = docs.hits.length;
    const refused = await ask(a, ip, unique(docs.origin));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('location')).toBeNull();
    const text = await refused.text();
    expect(text).toContain('temporarily_unavailable');
    expect(text).toContain('Too many client ID metadata documents are being fetched');
    expect(docs.hits.length).toBe(before);
    // Another address is not held back, and the positive anchor: the same count sees its fetch.
    expect((await ask(b, address(), unique(otherHosts()[0]!))).status).toBe(400);
    expect(docs.hits.length).toBe(before + 1);
  });

  it.skipIf(withRedis && !redisUrl)(`one host is asked for at most ${perHost} new documents a minute, whoever asks; a stored document still refreshes`, async () => {
    await forgetHosts();
    // A new document too: stored (and cached) before the host's allowance is spent.
    const good = `${docs.origin}/good.json`;
    expect((await ask(a, address(), good)).status).toBe(303);
    for (let i = 1; i < perHost; i++) expect((await ask(i % 2 ? b : a, address(), unique(docs.origin))).status, `fetch ${i + 1}`).toBe(400);
    const before = docs.hits.length;
    expect((await ask(b, address(), unique(docs.origin))).status).toBe(429);
    expect(docs.hits.length).toBe(before);
    // Another host is not held back.
    expect((await ask(a, address(), unique(`http://localhost:${docs.port}`))).status).toBe(400);
    // The stored document, gone stale, is fetched again all the same: made-up URLs cannot keep a host's known apps from refreshing.
    await a.services.storage.db.updateTable('oauth_clients').set({ metadata_expires_at: 1 }).where('id', '=', good).execute();
    (a.services.documents as unknown as { cache: { clear(): void } }).cache.clear();
    expect((await ask(a, address(), good)).status).toBe(303);
    expect(docs.hits.length).toBe(before + 2);
  });
});
