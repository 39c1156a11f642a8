import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { obtainCode, registerClient, signIn, tokenRequest } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type TestServer } from '../helpers/server.js';

type Instance = Awaited<ReturnType<typeof startInstance>>;

/**
 * SPEC §12: an admin suspends a user through one instance; the other refuses the user's access token within a
 * second (it had it cached), while a token another user granted to the suspended user's app keeps working. Both
 * dialects, with Redis when TEST_REDIS_URL is set.
 */
describe.each(DIALECTS)('suspension reaches another instance within 1 s (%s)', (dialect) => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    const env: Record<string, string> = process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL } : {};
    a = await startInstance(database.url, env);
    b = await startInstance(database.url, env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.cleanup();
  });

  const serverOf = (instance: Instance) => instance as unknown as TestServer;
  const userinfoAt = async (instance: Instance, token: string) => (await call('GET', `${instance.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status;

  async function tokenFor(username: string, client: Awaited<ReturnType<typeof registerClient>>): Promise<string> {
    const agent = await signIn(serverOf(a), username);
    const { code, verifier } = await obtainCode(serverOf(a), agent, client, { scope: 'profile', prompt: 'consent' });
    const reply = await tokenRequest(a, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(reply.status).toBe(200);
    return reply.json.access_token as string;
  }

  it.skipIf(!dialectAvailable(dialect))("ends the user's tokens everywhere and keeps their app's tokens of other users", async () => {
    const tag = randomBytes(4).toString('hex');
    const admin = await seedUser(a, `admin_${tag}`);
    await a.services.userAdmin.setRole(admin.userId, 'admin', null);
    const owner = await seedUser(a, `owner_${tag}`);
    const other = await seedUser(a, `other_${tag}`);
    const client = await registerClient(b, owner, { scopes: ['profile'] });
    const ownersToken = await tokenFor(owner.username, client);
    const othersToken = await tokenFor(other.username, client);
    // B serves the owner's token from its cache, so the test shows the cache being told.
    expect(await userinfoAt(b, ownersToken)).toBe(200);
    expect(await userinfoAt(b, ownersToken)).toBe(200);
    expect(b.services.oauth.tokens.isCached(ownersToken)).toBe(true);

    const suspended = await call('POST', `${a.url}/admin/api/users/${owner.userId}/suspend`, { key: admin.key });
    expect(suspended.status).toBe(200);
    const started = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - started < 1000) status = await userinfoAt(b, ownersToken);
    expect(status).toBe(401);
    expect(await userinfoAt(b, othersToken)).toBe(200);
    expect(await userinfoAt(a, othersToken)).toBe(200);
    // And the owner cannot sign in again on either instance until unsuspended.
    expect((await call('GET', `${b.api}/models`, { key: owner.key })).status).toBe(401);
    await a.services.userAdmin.unsuspend(owner.userId, admin.userId);
    await signIn(serverOf(b), owner.username);
  });
});
