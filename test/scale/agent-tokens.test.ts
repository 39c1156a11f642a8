import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { form, obtainCode, registerClient, signIn, tokenRequest, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type Seeded, type TestServer } from '../helpers/server.js';

const REDIS_URL = process.env.TEST_REDIS_URL;
type Instance = Awaited<ReturnType<typeof startInstance>>;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * SPEC §15 across instances: sub-agent tokens end with their parent on every
 * instance within the token cache's second, and sibling sub-agents calling
 * through two instances at once spend past neither their own caps nor the
 * grant's budget.
 */
describe.skipIf(!PG_URL || !REDIS_URL)('sub-agent tokens on two instances (PostgreSQL + Redis)', () => {
  let database: TestDatabase;
  let up: FakeUpstream;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    up = await startFakeUpstream();
    const env = { REDIS_URL: REDIS_URL!, RATE_LIMIT_TOKEN: '0', UPSTREAM_BASE_URL: up.baseUrl };
    a = await startInstance(database.url, env);
    b = await startInstance(database.url, env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await up?.close();
    await database?.cleanup();
  });

  const serverOf = (instance: Instance) => instance as unknown as TestServer;

  async function userToken(): Promise<{ owner: Seeded; client: TestClient; token: string }> {
    const owner = await seedUser(a, `agents_${randomBytes(4).toString('hex')}`);
    const client = await registerClient(b, owner, { scopes: ['profile', 'generations'] });
    const agent = await signIn(serverOf(a), owner.username);
    const { code, verifier } = await obtainCode(serverOf(a), agent, client, { scope: 'profile generations', prompt: 'consent' });
    const reply = await tokenRequest(a, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(reply.status).toBe(200);
    return { owner, client, token: reply.json.access_token };
  }

  const exchange = async (at: Instance, client: TestClient, subject: string, extra: Record<string, string> = {}) => {
    const reply = await tokenRequest(at, { grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS, client_id: client.clientId, client_secret: client.clientSecret!, ...extra });
    expect(reply.status).toBe(200);
    return reply.json.access_token as string;
  };
  const userinfoAt = async (instance: Instance, token: string) => (await call('GET', `${instance.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('revoking the parent through B ends the child and the grandchild cached at A within 1 s', async () => {
    const { client, token } = await userToken();
    const child = await exchange(b, client, token, { agent_name: 'child' });
    const grandchild = await exchange(a, client, child, { agent_name: 'grandchild' });
    for (const t of [token, child, grandchild]) {
      expect(await userinfoAt(a, t)).toBe(200);
      expect(a.services.oauth.tokens.isCached(t)).toBe(true);
    }
    const revoked = await call('POST', `${b.api}/oauth/revoke`, { body: form({ token, client_id: client.clientId, client_secret: client.clientSecret! }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(revoked.status).toBe(200);
    const started = Date.now();
    let statuses = [200, 200, 200];
    while (statuses.some((s) => s !== 401) && Date.now() - started < 1000) statuses = await Promise.all([token, child, grandchild].map((t) => userinfoAt(a, t)));
    expect(statuses).toEqual([401, 401, 401]);
  });

  it('50 parallel calls of three sub-agents on two instances: no child past 5,000, the grant past 10,000', async () => {
    const { owner, client, token } = await userToken();
    await a.services.budgets.set(owner.userId, client.clientId, { tokens: 10_000, images: null, period: 'month' });
    const details = JSON.stringify([{ type: 'serika_budget', tokens: 5_000 }]);
    const children = await Promise.all([0, 1, 2].map((i) => exchange(i % 2 ? b : a, client, token, { agent_name: `worker${i}`, authorization_details: details })));
    // 'greedy' spends its whole completion cap: each call costs what it was allowed, as a worst case. worker0 makes
    // 30 of the calls (up to 9,900 tokens: its own cap binds), the others 10 each (up to 3,300: the grant's binds).
    const worker = (i: number) => (i % 5 < 3 ? 0 : (i % 5) - 2);
    const calls = Array.from({ length: 50 }, (_, i) =>
      call('POST', `${(i % 2 ? b : a).api}/oauth/chat/completions`, {
        headers: { authorization: `Bearer ${children[worker(i)]!}` },
        json: { model: 'greedy', messages: [{ role: 'user', content: `task ${i}` }], max_tokens: 300 },
      }),
    );
    const statuses = (await Promise.all(calls)).map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const db = a.services.storage.db;
    const grant = await db.selectFrom('oauth_budgets').selectAll().where('user_id', '=', owner.userId).where('client_id', '=', client.clientId).executeTakeFirstOrThrow();
    const caps = await db.selectFrom('agent_budgets').selectAll().where('user_id', '=', owner.userId).execute();
    expect(caps).toHaveLength(3);
    expect(grant.tokens_used).toBeLessThanOrEqual(10_000);
    expect(grant.tokens_used).toBeGreaterThan(8_000);
    expect(Math.max(...caps.map((cap) => cap.tokens_used))).toBeGreaterThan(4_000);
    for (const cap of caps) {
      expect(cap.tokens_used).toBeLessThanOrEqual(5_000);
      expect([cap.tokens_reserved, cap.images_reserved]).toEqual([0, 0]);
    }
    expect([grant.tokens_reserved, grant.images_reserved]).toEqual([0, 0]);
    // Every child's spending is the grant's spending: one hold covered both.
    expect(caps.reduce((sum, cap) => sum + cap.tokens_used, 0)).toBe(grant.tokens_used);
  });
});
