import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { Agent, PASSWORD, authorizeUrl, decide, form, pkce, registerClient, standardParams } from '../helpers/oauth.js';
import { postFrom } from '../helpers/loopback.js';
import { call, captureLog, seedUser, startInstance } from '../helpers/server.js';

const REDIS_URL = process.env.TEST_REDIS_URL;
type Instance = Awaited<ReturnType<typeof startInstance>>;

describe.skipIf(!PG_URL || !REDIS_URL)('two instances on one PostgreSQL and one Redis', () => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env = { REDIS_URL: REDIS_URL!, RATE_LIMIT_TOKEN: '4' };
    a = await startInstance(database.url, env);
    b = await startInstance(database.url, env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.cleanup();
  });

  it('serves a flow started on one instance and finished on the other', async () => {
    const owner = await seedUser(a, `owner_${randomBytes(3).toString('hex')}`);
    const client = await registerClient(b, owner);
    // Sign in on A; the session, the CSRF cookie key and the pending request all live in the shared database.
    const agentA = new Agent(a.url, a.config.publicUrl);
    const login = await (await agentA.fetch('/login')).text();
    const csrf = /name="_csrf" value="([^"]*)"/.exec(login)![1]!;
    expect((await agentA.fetch('/login', { form: { _csrf: csrf, username: owner.username, password: PASSWORD } })).status).toBe(303);
    const { verifier, challenge } = pkce();
    const consent = await agentA.fetch(authorizeUrl(a, standardParams(client, challenge)));
    expect(consent.status).toBe(200);
    // The decision is posted to B with A's cookies.
    const agentB = new Agent(b.url, b.config.publicUrl);
    for (const [k, v] of agentA.cookies) agentB.cookies.set(k, v);
    const decided = await decide(agentB, b, await consent.text(), 'allow');
    expect(decided.status).toBe(303);
    const code = new URL(decided.headers.get('location')!).searchParams.get('code')!;
    // The token endpoints from an address of this run's own: Redis keeps each address's per-minute count across
    // runs, and 127.0.0.1's would refuse a second run within the minute (RATE_LIMIT_TOKEN is 4 here).
    const source = `127.0.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
    const redeemed = await postFrom(source, `${a.api}/oauth/token`, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! }));
    expect(redeemed.status).toBe(200);
    const tokens = JSON.parse(redeemed.text) as { access_token: string; refresh_token: string };
    const me = await call('GET', `${b.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(me.json.username).toBe(owner.username);

    // A token revoked through B is refused by A within a second (here: at once, nothing is cached).
    const revoked = await postFrom(source, `${b.api}/oauth/revoke`, form({ token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! }));
    expect(revoked.status).toBe(200);
    const started = Date.now();
    let status = 200;
    while (Date.now() - started < 1000 && status !== 401) status = (await call('GET', `${a.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status;
    expect(status).toBe(401);
  });

  it('a client suspended through one instance has its tokens refused by the other within a second', async () => {
    const owner = await seedUser(a, `suspended_${randomBytes(3).toString('hex')}`);
    const client = await registerClient(a, owner);
    const agent = new Agent(b.url, b.config.publicUrl);
    const login = await (await agent.fetch('/login')).text();
    const csrf = /name="_csrf" value="([^"]*)"/.exec(login)![1]!;
    expect((await agent.fetch('/login', { form: { _csrf: csrf, username: owner.username, password: PASSWORD } })).status).toBe(303);
    const { verifier, challenge } = pkce();
    const consent = await agent.fetch(authorizeUrl(b, standardParams(client, challenge)));
    const decided = await decide(agent, b, await consent.text(), 'allow');
    const code = new URL(decided.headers.get('location')!).searchParams.get('code')!;
    const source = `127.0.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
    const redeemed = await postFrom(source, `${b.api}/oauth/token`, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! }));
    const tokens = JSON.parse(redeemed.text) as { access_token: string; refresh_token: string };
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    // B has the token (and the client) in memory now.
    expect((await call('GET', `${b.api}/oauth/userinfo`, { headers: bearer })).status).toBe(200);

    await a.services.clientTrust.suspend(client.clientId, null);
    const started = Date.now();
    let status = 200;
    while (Date.now() - started < 1000 && status !== 401) status = (await call('GET', `${b.api}/oauth/userinfo`, { headers: bearer })).status;
    expect(status).toBe(401);
    const refreshed = await postFrom(source, `${b.api}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! }));
    expect(JSON.parse(refreshed.text).error).toBe('unauthorized_client');
  });

  it('counts a rate limit hit through one instance on the other (per authenticated client, through Redis)', async () => {
    const owner = await seedUser(a, `limited_${randomBytes(3).toString('hex')}`);
    const client = await registerClient(a, owner);
    const body = form({ grant_type: 'refresh_token', refresh_token: 'serika_rt_x', client_id: client.clientId, client_secret: client.clientSecret! });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      // Different source addresses, so only the per-client counter can trip.
      statuses.push((await postFrom(`127.0.${Math.floor(Math.random() * 200) + 20}.${i + 2}`, `${(i % 2 ? b : a).api}/oauth/token`, body)).status);
    }
    expect(statuses.slice(0, 4)).toEqual([400, 400, 400, 400]);
    expect(statuses[4]).toBe(429);
  });

  it('degrades to per-instance limits with a warning, never an error, when Redis is away', async () => {
    const { lines, logStream } = captureLog();
    const lonely = await startInstance(database.url, { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_TOKEN: '3', LOG_LEVEL: 'warn' }, { logStream });
    try {
      const source = `127.0.${Math.floor(Math.random() * 200) + 20}.250`;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await postFrom(source, `${lonely.api}/oauth/revoke`, `token=x&client_id=client_${randomBytes(8).toString('hex')}`)).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      expect(lines.join('')).toContain('rate limits are counted per instance');
      expect((await call('GET', `${lonely.url}/readyz`)).status).toBe(200);
    } finally {
      await lonely.close();
    }
  });
});
