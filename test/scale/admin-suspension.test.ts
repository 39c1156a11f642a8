import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { Agent, PASSWORD, authorizeUrl, hiddenField, obtainCode, pkce, registerClient, signIn, standardParams, tokenRequest } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type TestServer } from '../helpers/server.js';

type Instance = Awaited<ReturnType<typeof startInstance>>;

/**
 * SPEC §12: an admin suspends a user through one instance; the other refuses the user's access token within a
 * second (it had it cached) and their sign-in at /login, while a token another user granted to the suspended user's
 * app keeps working. An app suspended through one instance: the other refuses its token it had cached within a
 * second, and its authorize shows the suspended page. Both dialects, with Redis when TEST_REDIS_URL is set.
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

  /** The /login form on an instance, as a browser posts it. */
  async function logIn(instance: Instance, username: string): Promise<{ status: number; text: string }> {
    const browser = new Agent(instance.url, instance.config.publicUrl);
    const form = await (await browser.fetch('/login')).text();
    const answer = await browser.fetch('/login', { form: { _csrf: hiddenField(form, '_csrf'), username, password: PASSWORD } });
    return { status: answer.status, text: await answer.text() };
  }

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
    // And the owner cannot sign in again on either instance until unsuspended: not with a key, not at /login.
    expect((await call('GET', `${b.api}/models`, { key: owner.key })).status).toBe(401);
    for (const instance of [b, a]) {
      const refused = await logIn(instance, owner.username);
      expect(refused.status).toBe(403);
      expect(refused.text).toContain('This account is suspended.');
    }
    await a.services.userAdmin.unsuspend(owner.userId, admin.userId);
    await signIn(serverOf(b), owner.username);
  });

  it.skipIf(!dialectAvailable(dialect))("ends a suspended app's tokens on the other instance within 1 s, whose authorize shows the suspended page", async () => {
    const tag = randomBytes(4).toString('hex');
    const admin = await seedUser(a, `appadmin_${tag}`);
    await a.services.userAdmin.setRole(admin.userId, 'admin', null);
    const owner = await seedUser(a, `appowner_${tag}`);
    const user = await seedUser(a, `appuser_${tag}`);
    const client = await registerClient(b, owner, { name: `Cached App ${tag}`, scopes: ['profile'] });
    const token = await tokenFor(user.username, client);
    expect(await userinfoAt(b, token)).toBe(200);
    expect(await userinfoAt(b, token)).toBe(200);
    expect(b.services.oauth.tokens.isCached(token)).toBe(true);

    const suspended = await call('POST', `${a.url}/admin/api/clients/${client.clientId}/suspend`, { key: admin.key });
    expect(suspended.status).toBe(200);
    const started = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - started < 1000) status = await userinfoAt(b, token);
    expect(status).toBe(401);
    const agent = await signIn(serverOf(b), user.username);
    const page = await agent.fetch(authorizeUrl(b, standardParams(client, pkce().challenge)));
    expect(page.status).toBe(403);
    expect(page.headers.get('location')).toBeNull();
    const text = await page.text();
    expect(text).toContain(`Cached App ${tag}`);
    expect(text).toContain('is suspended');
  });
});
