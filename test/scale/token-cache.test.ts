import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { form, hiddenField, obtainCode, registerClient, signIn, tokenRequest, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type Seeded, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';

type Instance = Awaited<ReturnType<typeof startInstance>>;
type Tokens = { access_token: string; refresh_token: string };

/**
 * Issue 18: with the access-token cache on, every path that ends a token,
 * taken through one instance, is seen by the other within a second — on
 * both dialects (two processes' worth of services on one SQLite file, or on
 * one PostgreSQL database).
 */
describe.each(DIALECTS)('token cache: revocations reach another instance within 1 s (%s)', (dialect) => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    a = await startInstance(database.url);
    b = await startInstance(database.url);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.cleanup();
  });

  const serverOf = (instance: Instance) => instance as unknown as TestServer;

  /** A user signed in on A with a client registered through B, and tokens from the real code flow. */
  async function setUp(scope = 'profile generations'): Promise<{ owner: Seeded; client: TestClient; agent: Agent; code: string; verifier: string; tokens: Tokens }> {
    const owner = await seedUser(a, `cache_${randomBytes(4).toString('hex')}`);
    const client = await registerClient(b, owner, { scopes: ['profile', 'generations', 'characters'] });
    const agent = await signIn(serverOf(a), owner.username);
    const { code, verifier } = await obtainCode(serverOf(a), agent, client, { scope, prompt: 'consent' });
    const reply = await tokenRequest(a, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(reply.status).toBe(200);
    return { owner, client, agent, code, verifier, tokens: reply.json };
  }

  const userinfoAt = async (instance: Instance, token: string) => (await call('GET', `${instance.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status;

  /** A serves the token from its cache (so the test shows the cache being told, not merely missed). */
  async function cachedAtA(token: string): Promise<void> {
    // A lookup while an invalidation of the set-up is still on its way to A is served but not kept (the cache
    // never fills from a read that may predate a change): ask again until A keeps it.
    await until(async () => (await userinfoAt(a, token)) === 200 && a.services.oauth.tokens.isCached(token), { timeoutMs: 3000, message: 'A to keep the token in its cache' });
    expect(await userinfoAt(a, token)).toBe(200);
  }

  /** A refuses the token within a second of the change through B. */
  async function refusedAtAWithin1s(token: string): Promise<void> {
    const started = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - started < 1000) status = await userinfoAt(a, token);
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
  }

  it.skipIf(!dialectAvailable(dialect))('token revocation (RFC 7009) of an access token', async () => {
    const { client, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    const revoked = await call('POST', `${b.api}/oauth/revoke`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token: tokens.access_token, client_id: client.clientId, client_secret: client.clientSecret! }),
    });
    expect(revoked.status).toBe(200);
    // The revoking instance itself is exact: at once, not within a second.
    expect(await userinfoAt(b, tokens.access_token)).toBe(401);
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('token revocation of the refresh token ends its access tokens (family)', async () => {
    const { client, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    const revoked = await call('POST', `${b.api}/oauth/revoke`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! }),
    });
    expect(revoked.status).toBe(200);
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('refresh token replay revokes the family', async () => {
    const { client, tokens } = await setUp();
    const body = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! };
    const rotated = await tokenRequest(b, body);
    expect(rotated.status).toBe(200);
    await cachedAtA(tokens.access_token);
    await cachedAtA(rotated.json.access_token);
    expect((await tokenRequest(b, body)).json.error).toBe('invalid_grant');
    await refusedAtAWithin1s(tokens.access_token);
    await refusedAtAWithin1s(rotated.json.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('authorization code replay revokes what the code issued', async () => {
    const { client, code, verifier, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    const replay = await tokenRequest(b, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(replay.json.error).toBe('invalid_grant');
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('client deletion', async () => {
    const { owner, client, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    expect((await call('DELETE', `${b.api}/oauth/clients/${client.clientId}`, { key: owner.key })).status).toBe(204);
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('a scope removed from the client', async () => {
    const { owner, client, tokens } = await setUp('profile generations');
    await cachedAtA(tokens.access_token);
    const patched = await call('PATCH', `${b.api}/oauth/clients/${client.clientId}`, { key: owner.key, json: { scopes: ['profile', 'characters'] } });
    expect(patched.status).toBe(200);
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('grant revocation from the dashboard', async () => {
    const { owner, client, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    const agentB = await signIn(serverOf(b), owner.username);
    const confirm = await (await agentB.fetch(`/dashboard/apps/${client.clientId}/revoke`)).text();
    expect((await agentB.fetch(`/dashboard/apps/${client.clientId}/revoke`, { form: { _csrf: hiddenField(confirm, '_csrf') } })).status).toBe(303);
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('account deletion', async () => {
    const { owner, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    const agentB = await signIn(serverOf(b), owner.username);
    const page = await (await agentB.fetch('/dashboard/account')).text();
    expect((await agentB.fetch('/dashboard/account/delete', { form: { _csrf: hiddenField(page, '_csrf'), confirm: owner.username } })).status).toBe(303);
    await refusedAtAWithin1s(tokens.access_token);
  });

  it.skipIf(!dialectAvailable(dialect))('a client secret reset: the token endpoint of the other instance refuses the old secret within 1 s (clients are cached too)', async () => {
    const { owner, client, tokens } = await setUp();
    const refresh = (secret: string, token: string) =>
      tokenRequest(a, { grant_type: 'refresh_token', refresh_token: token, client_id: client.clientId, client_secret: secret });
    // As for tokens (cachedAtA): a lookup that overlapped an invalidation, or came while A's feed was not yet
    // fresh, is served but not kept — refresh until A answers the client from memory (it failed once in CI).
    let token = tokens.refresh_token;
    await until(async () => {
      const reply = await refresh(client.clientSecret!, token);
      expect(reply.status).toBe(200);
      token = reply.json.refresh_token;
      return a.services.clients.isCached(client.clientId);
    }, { timeoutMs: 3000, message: 'A to keep the client in its cache' });
    const reset = await call('POST', `${b.api}/oauth/clients/${client.clientId}/reset-secret`, { key: owner.key });
    expect(reset.status).toBe(200);
    const started = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - started < 1000) {
      const reply = await refresh(client.clientSecret!, token);
      status = reply.status;
      if (status === 200) token = reply.json.refresh_token;
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await refresh(reset.json.clientSecret, token)).status).toBe(200);
  });

  it.skipIf(!dialectAvailable(dialect))('a spending limit set through one instance is what the other reports at once (a budget row is read, or checked unchanged, on every call)', async () => {
    const { owner, client, tokens } = await setUp();
    await cachedAtA(tokens.access_token);
    await b.services.budgets.set(owner.userId, client.clientId, { tokens: 1234, images: null, period: 'total' });
    const introspected = await call('POST', `${a.api}/oauth/introspect`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token: tokens.access_token, client_id: client.clientId, client_secret: client.clientSecret! }),
    });
    expect(introspected.json).toMatchObject({ active: true, budget_remaining: { tokens: 1234 } });
  });
});
