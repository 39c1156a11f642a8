import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Agent,
  PASSWORD,
  authorizeUrl,
  decide,
  hiddenField,
  pkce,
  registerClient,
  signIn,
  standardParams,
  userWithSession,
} from '../helpers/oauth.js';
import { randomAddress, seedUser, startPair, startTestServer, type TestServer } from '../helpers/server.js';

const SESSION = 'serika_session';

describe('sign-in, sign-up and consent pages', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { RATE_LIMIT_LOGIN: '0' });
  });
  afterAll(async () => ts?.close());

  async function loginForm(agent: Agent, query = '') {
    const page = await (await agent.fetch(`/login${query}`)).text();
    return { page, csrf: hiddenField(page, '_csrf') };
  }

  it('shows the sign-in form with the labels and button SPEC §2 names', async () => {
    const response = await fetch(`${ts.url}/login`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toMatch(/<label for="username">Username<\/label>/);
    expect(html).toMatch(/<label for="password">Password<\/label>/);
    expect(html).toMatch(/<button type="submit">Sign in<\/button>/);
  });

  it('shows the sign-up form with Username, Password, optional Email and "Create account"', async () => {
    const html = await (await fetch(`${ts.url}/signup`)).text();
    expect(html).toMatch(/<label for="username">Username<\/label>/);
    expect(html).toMatch(/<label for="password">Password<\/label>/);
    expect(html).toMatch(/<label for="email">Email/);
    expect(html).toMatch(/<button type="submit">Create account<\/button>/);
    expect(html).not.toMatch(/confirm/i);
  });

  it('signs up, lands on the dashboard with "Sign out", and signs out with a POST', async () => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch('/signup')).text();
    const created = await agent.fetch('/signup', {
      form: { _csrf: hiddenField(page, '_csrf'), username: 'newcomer', password: 'a fine password', email: '' },
    });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/dashboard');
    const dashboard = await agent.fetch('/dashboard');
    expect(dashboard.status).toBe(200);
    const html = await dashboard.text();
    expect(html).toContain('newcomer');
    expect(html).toMatch(/<button type="submit" class="secondary">Sign out<\/button>/);
    const out = await agent.fetch('/logout', { form: { _csrf: hiddenField(html, '_csrf') } });
    expect(out.status).toBe(303);
    expect((await agent.fetch('/dashboard')).status).toBe(303);
  });

  it('re-shows the sign-up form with the reason when the input is refused', async () => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch('/signup')).text();
    const response = await agent.fetch('/signup', { form: { _csrf: hiddenField(page, '_csrf'), username: 'x', password: 'a fine password' } });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Usernames are 3 to 32');
    expect(agent.cookies.has(SESSION)).toBe(false);
  });

  it('sends /dashboard visitors without a session to sign in first', async () => {
    const response = await fetch(`${ts.url}/dashboard`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/login?return_to=%2Fdashboard');
  });

  it('UI-01 sign-in without a valid CSRF token, or from a cross-site Origin, is refused and issues nothing', async () => {
    const user = await seedUser(ts);
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const { csrf } = await loginForm(agent);
    const noToken = await agent.fetch('/login', { form: { username: user.username, password: PASSWORD } });
    expect(noToken.status).toBe(403);
    const badToken = await agent.fetch('/login', { form: { _csrf: 'forged', username: user.username, password: PASSWORD } });
    expect(badToken.status).toBe(403);
    const crossSite = await agent.fetch('/login', {
      form: { _csrf: csrf, username: user.username, password: PASSWORD },
      headers: { origin: 'https://evil.example.com' },
    });
    expect(crossSite.status).toBe(403);
    const fetchSite = await agent.fetch('/login', {
      form: { _csrf: csrf, username: user.username, password: PASSWORD },
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(fetchSite.status).toBe(403);
    expect(agent.cookies.has(SESSION)).toBe(false);
    const fresh = new Agent(ts.url, ts.config.publicUrl);
    const stolen = await fresh.fetch('/login', { form: { _csrf: csrf, username: user.username, password: PASSWORD } });
    expect(stolen.status).toBe(403);
  });

  it('UI-01 consent POSTs without a valid CSRF token, or cross-site, are refused and issue nothing', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await registerClient(ts, user);
    const page = await (await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge)))).text();
    const requestId = hiddenField(page, 'request_id');
    const url = `${ts.api}/oauth/authorize/decision`;
    for (const attempt of [
      agent.fetch(url, { form: { request_id: requestId, decision: 'allow' } }),
      agent.fetch(url, { form: { _csrf: 'nope', request_id: requestId, decision: 'allow' } }),
      agent.fetch(url, { form: { _csrf: hiddenField(page, '_csrf'), request_id: requestId, decision: 'allow' }, headers: { origin: 'https://evil.example.com' } }),
    ]) {
      const response = await attempt;
      expect(response.status).toBe(403);
      expect(response.headers.get('location')).toBeNull();
    }
    // The request is still pending: the genuine page can still decide it.
    expect((await decide(agent, ts, page, 'allow')).status).toBe(303);
  });

  it('UI-02 and UI-03: frame and referrer headers on every page, and no third-party resources', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await registerClient(ts, user);
    const pages = [
      await fetch(`${ts.url}/login`),
      await fetch(`${ts.url}/signup`),
      await agent.fetch('/dashboard'),
      await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge))),
      await agent.fetch(authorizeUrl(ts, { client_id: 'nope' })),
    ];
    for (const response of pages) {
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await response.text();
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    }
    const css = await fetch(`${ts.url}/assets/serika.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
  });

  it('UI-04 no CORS headers on /oauth/authorize or the pages', async () => {
    const { user } = await userWithSession(ts);
    const client = await registerClient(ts, user);
    const origin = { origin: 'https://spa.example.com' };
    for (const url of [authorizeUrl(ts, standardParams(client, pkce().challenge)), `${ts.url}/login`, `${ts.url}/signup`, `${ts.url}/dashboard`]) {
      for (const method of ['GET', 'OPTIONS']) {
        const response = await fetch(url, {
          method,
          redirect: 'manual',
          headers: { ...origin, 'access-control-request-method': 'POST' },
        });
        for (const [name] of response.headers) expect(name.startsWith('access-control-')).toBe(false);
      }
    }
  });

  it('UI-05 wrong passwords are slowed more and more per username, never locked out', async () => {
    const user = await seedUser(ts);
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const attempt = async (password: string) => {
      const { csrf } = await loginForm(agent);
      const started = performance.now();
      const response = await agent.fetch('/login', { form: { _csrf: csrf, username: user.username, password } });
      return { response, ms: performance.now() - started };
    };
    for (let i = 0; i < 3; i++) expect((await attempt('wrong password')).response.status).toBe(401);
    const slowed = await attempt('wrong password');
    expect(slowed.response.status).toBe(401);
    expect(slowed.ms).toBeGreaterThanOrEqual(240);
    const slower = await attempt('wrong password');
    expect(slower.ms).toBeGreaterThanOrEqual(490);
    // Never a hard lockout: the right password still works, just later.
    const right = await attempt(PASSWORD);
    expect(right.response.status).toBe(303);
  });

  it('UI-05 an unknown user and a wrong password get the same answer', async () => {
    const user = await seedUser(ts);
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const bodies: string[] = [];
    for (const username of [user.username, 'no_such_user_anywhere']) {
      const { csrf } = await loginForm(agent);
      const response = await agent.fetch('/login', { form: { _csrf: csrf, username, password: 'not the password' } });
      expect(response.status).toBe(401);
      bodies.push((await response.text()).replace(/value="[^"]*"/g, 'value=""'));
    }
    expect(bodies[0]).toBe(bodies[1]);
    expect(bodies[0]).toContain('Incorrect username or password.');
    // Unknown names are throttled exactly like known ones.
    expect(await ts.services.throttle.delayFor('no_such_user_anywhere')).toBe(await ts.services.throttle.delayFor(user.username));
  });

  it.each(['//evil.example.com/x', 'https://evil.example.com/', '/\\evil.example.com', '/%0d%0aSet-Cookie:x', 'javascript:alert(1)', ' /dashboard'])(
    'UI-06 refuses the return path %j (no open redirect)',
    async (returnTo) => {
      const user = await seedUser(ts);
      const agent = new Agent(ts.url, ts.config.publicUrl);
      const { csrf } = await loginForm(agent);
      const response = await agent.fetch('/login', { form: { _csrf: csrf, username: user.username, password: PASSWORD, return_to: returnTo } });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe(returnTo === '/%0d%0aSet-Cookie:x' ? returnTo : '/dashboard');
    },
  );

  it('UI-06 returns to the pending authorization request after sign-in', async () => {
    const { user } = await userWithSession(ts);
    const client = await registerClient(ts, user);
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const start = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge)));
    const login = start.headers.get('location')!;
    const page = await (await agent.fetch(login)).text();
    const returnTo = hiddenField(page, 'return_to');
    expect(returnTo.startsWith('/api/openai/v1/oauth/authorize?')).toBe(true);
    const signedIn = await agent.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username: user.username, password: PASSWORD, return_to: returnTo } });
    expect(signedIn.headers.get('location')).toBe(returnTo);
    const consent = await agent.fetch(signedIn.headers.get('location')!);
    expect(consent.status).toBe(200);
    expect(await consent.text()).toContain('Allow');
  });

  it('UI-06 the session id changes at sign-in and the old one stops working', async () => {
    const user = await seedUser(ts);
    const agent = await signIn(ts, user.username);
    const first = agent.cookies.get(SESSION)!;
    // Signed in, /login redirects; the dashboard's form token serves the same CSRF cookie.
    const csrf = hiddenField(await (await agent.fetch('/dashboard')).text(), '_csrf');
    await agent.fetch('/login', { form: { _csrf: csrf, username: user.username, password: PASSWORD } });
    const second = agent.cookies.get(SESSION)!;
    expect(second).not.toBe(first);
    const old = await fetch(`${ts.url}/dashboard`, { headers: { cookie: `${SESSION}=${first}` }, redirect: 'manual' });
    expect(old.status).toBe(303);
  });

  it('sets the session cookie HttpOnly and SameSite=Lax', async () => {
    const user = await seedUser(ts);
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const { csrf } = await loginForm(agent);
    const response = await agent.fetch('/login', { form: { _csrf: csrf, username: user.username, password: PASSWORD } });
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith(`${SESSION}=`))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i);
  });

  it('UI-07 a public client is always shown the consent page, even with a stored grant', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await registerClient(ts, user, { public: true, redirectUris: ['http://127.0.0.1/cb'] });
    for (let i = 0; i < 2; i++) {
      const page = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge)));
      expect(page.status).toBe(200);
      expect((await decide(agent, ts, await page.text(), 'allow')).status).toBe(303);
    }
    expect(await ts.services.grants.covers(user.userId, client.clientId, ['profile'])).toBe(true);
  });

  it('skips the page for a confidential client with a covering grant, and asks again for more or with prompt=consent', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await registerClient(ts, user);
    const first = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { scope: 'profile generations' })));
    expect(first.status).toBe(200);
    const html = await first.text();
    expect(html).toContain('Test App');
    expect(html).toContain(user.username);
    expect(html).toContain('Generate text and images on your behalf');
    await decide(agent, ts, html, 'allow');
    const covered = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { scope: 'generations' })));
    expect(covered.status).toBe(303);
    expect(new URL(covered.headers.get('location')!).searchParams.get('code')).toMatch(/^serika_ac_/);
    expect((await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { scope: 'characters' })))).status).toBe(200);
    expect((await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { prompt: 'consent' })))).status).toBe(200);
  });
});

describe('closed sign-up and the per-IP sign-in limit', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { SIGNUP: 'closed', RATE_LIMIT_LOGIN: '3' });
  });
  afterAll(async () => ts?.close());

  it('SIGNUP=closed answers the sign-up page and form with 403', async () => {
    expect((await fetch(`${ts.url}/signup`)).status).toBe(403);
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const { csrf } = { csrf: hiddenField(await (await agent.fetch('/login')).text(), '_csrf') };
    const response = await agent.fetch('/signup', { form: { _csrf: csrf, username: 'sneaky', password: 'a fine password' } });
    expect(response.status).toBe(403);
    expect(await ts.services.users.findByUsername('sneaky')).toBeUndefined();
  });

  it('UI-05 refuses sign-ins past RATE_LIMIT_LOGIN per IP with 429 and Retry-After', async () => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const csrf = hiddenField(await (await agent.fetch('/login')).text(), '_csrf');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await agent.fetch('/login', { form: { _csrf: csrf, username: `someone${i}`, password: 'wrong password' } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.headers.get('content-type')).toContain('text/html');
  });
});

/** SPEC §1 RATE_LIMIT_SIGNUP: accounts created per IP at /signup; refused attempts do not count. */
describe.each([
  ['counted in the process', false],
  ['counted in Redis, across instances', true],
])('RATE_LIMIT_SIGNUP (%s)', (_label, withRedis) => {
  const redisUrl = process.env.TEST_REDIS_URL;
  let a: TestServer;
  let b: TestServer;
  let close: () => Promise<void>;
  // TRUST_PROXY=1: each test picks its client address by X-Forwarded-For.
  const address = randomAddress;
  beforeAll(async () => {
    if (withRedis && !redisUrl) return;
    ({ a, b, close } = await startPair({ RATE_LIMIT_SIGNUP: '2', TRUST_PROXY: '1' }, withRedis ? redisUrl! : null));
  });
  afterAll(async () => close?.());

  async function signUp(ts: TestServer, ip: string, username: string) {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const headers = { 'x-forwarded-for': ip };
    const page = await (await agent.fetch('/signup', { headers })).text();
    return agent.fetch('/signup', { headers, form: { _csrf: hiddenField(page, '_csrf'), username, password: 'a fine password' } });
  }
  const name = () => `s${Math.random().toString(36).slice(2, 12)}`;

  it.skipIf(withRedis && !redisUrl)('counts only accounts created: refused forms are free; past the limit a 429 page with Retry-After creates nothing', async () => {
    const ip = address();
    for (let i = 0; i < 3; i++) expect((await signUp(a, ip, 'x')).status).toBe(400);
    expect((await signUp(a, ip, name())).status).toBe(303);
    expect((await signUp(b, ip, name())).status).toBe(303);
    const refusedName = name();
    const refused = await signUp(a, ip, refusedName);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(await refused.text()).toContain('Too many accounts have been created from your network');
    expect(await a.services.users.findByUsername(refusedName)).toBeUndefined();
    expect((await signUp(b, ip, name())).status).toBe(429);
    // Another address is not held back.
    expect((await signUp(b, address(), name())).status).toBe(303);
  });

  it.skipIf(withRedis && !redisUrl)('counts each sign-up before the account is made: 8 sent together from one address create 2', async () => {
    const ip = address();
    const forms = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const ts = i % 2 ? b : a;
        const agent = new Agent(ts.url, ts.config.publicUrl);
        const page = await (await agent.fetch('/signup', { headers: { 'x-forwarded-for': ip } })).text();
        return { agent, csrf: hiddenField(page, '_csrf') };
      }),
    );
    const sent = forms.map(({ agent, csrf }) => agent.fetch('/signup', { headers: { 'x-forwarded-for': ip }, form: { _csrf: csrf, username: name(), password: 'a fine password' } }));
    const statuses = (await Promise.all(sent)).map((r) => r.status).sort();
    expect(statuses).toEqual([303, 303, 429, 429, 429, 429, 429, 429]);
  });
});

describe('RATE_LIMIT_SIGNUP=0', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { RATE_LIMIT_SIGNUP: '0', RATE_LIMIT_LOGIN: '0' });
  });
  afterAll(async () => ts?.close());

  it('turns the limit off', async () => {
    for (let i = 0; i < 12; i++) {
      const agent = new Agent(ts.url, ts.config.publicUrl);
      const page = await (await agent.fetch('/signup')).text();
      expect((await agent.fetch('/signup', { form: { _csrf: hiddenField(page, '_csrf'), username: `free${i}`, password: 'a fine password' } })).status).toBe(303);
    }
  });
});
