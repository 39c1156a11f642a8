import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, authorizeUrl, hiddenField, obtainCode, PASSWORD, pkce, registerClient, signIn, standardParams, tokenRequest, userWithSession } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/** SPEC §12: the operator's console and its API, on both dialects. */
describe.each(DIALECTS)('admin console (%s)', (dialect) => {
  let ts: TestServer;
  let admin: Seeded;
  let agent: Agent;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { OPERATOR_NAME: 'Console Ops', RATE_LIMIT_TOKEN: '0' });
    admin = await seedUser(ts, 'root_admin');
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
    agent = await signIn(ts, admin.username);
  });
  afterAll(async () => ts?.close());

  /** The admin proves it again with their password (they have no second factor). */
  async function reauth(who: Agent, password = PASSWORD): Promise<Response> {
    const page = await (await who.fetch('/admin/reauth?return_to=%2Fadmin%2Fusers')).text();
    expect(page).toContain('Password');
    return who.fetch('/admin/reauth', { form: { _csrf: hiddenField(page, '_csrf'), return_to: '/admin/users', proof: password } });
  }

  /** Posts one of a page's action forms. */
  async function post(who: Agent, pagePath: string, action: string, extra: Record<string, string> = {}): Promise<Response> {
    const page = await (await who.fetch(pagePath)).text();
    return who.fetch(action, { form: { _csrf: hiddenField(page, '_csrf'), ...extra } });
  }

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('answers a signed-in non-admin exactly as an unknown route, and sends a visitor to sign in', async () => {
      const user = await seedUser(ts);
      const them = await signIn(ts, user.username);
      for (const path of ['/admin', '/admin/users', '/admin/reauth', '/admin/audit']) {
        const answer = await them.fetch(path);
        const unknown = await them.fetch('/no-such-page');
        expect(answer.status).toBe(404);
        expect((await answer.text()).replace(path, '')).toBe((await unknown.text()).replace('/no-such-page', ''));
      }
      const visitor = await new Agent(ts.url).fetch('/admin/users?q=a');
      expect(visitor.status).toBe(303);
      expect(visitor.headers.get('location')).toBe('/login?return_to=%2Fadmin%2Fusers%3Fq%3Da');
    });

    it('asks the admin to re-authenticate, and again after 15 minutes', async () => {
      // The first page after signing in has no CSRF cookie yet: its form and its layout carry one token, the cookie's.
      const fresh = await signIn(ts, admin.username);
      const first = await (await fresh.fetch('/admin/reauth?return_to=%2Fadmin%2Fusers')).text();
      expect(new Set([...first.matchAll(/name="_csrf" value="([^"]+)"/g)].map((m) => m[1])).size).toBe(1);
      const asked = await agent.fetch('/admin/users');
      expect(asked.status).toBe(303);
      expect(asked.headers.get('location')).toBe('/admin/reauth?return_to=%2Fadmin%2Fusers');
      expect((await reauth(agent, 'wrong password')).status).toBe(401);
      const passed = await reauth(agent);
      expect(passed.status).toBe(303);
      expect(passed.headers.get('location')).toBe('/admin/users');
      expect((await agent.fetch('/admin/users')).status).toBe(200);
      // The check's time is on the session: moved back past the window, the pages ask again.
      const db = ts.services.storage.db;
      await db.updateTable('sessions').set({ reauth_at: Date.now() - 15 * 60_000 - 1000 }).where('user_id', '=', admin.userId).execute();
      expect((await agent.fetch('/admin/audit')).headers.get('location')).toBe('/admin/reauth?return_to=%2Fadmin%2Faudit');
      expect((await reauth(agent)).status).toBe(303);
      await db.updateTable('sessions').set({ reauth_at: Date.now() - 14 * 60_000 }).where('user_id', '=', admin.userId).execute();
      expect((await agent.fetch('/admin/audit')).status).toBe(200);
    });

    it('suspends a user from the Users page: sign-in refused, sessions and keys dead; unsuspend lets them back', async () => {
      expect((await reauth(agent)).status).toBe(303);
      const user = await seedUser(ts, `victim_${dialect}`);
      const theirs = await signIn(ts, user.username);
      expect((await theirs.fetch('/dashboard')).status).toBe(200);
      const list = await (await agent.fetch(`/admin/users?q=victim_${dialect}`)).text();
      expect(list).toContain(`data-user="${user.username}"`);
      const path = `/admin/users/${user.userId}`;
      expect((await post(agent, path, `${path}/suspend`)).status).toBe(303);
      expect(await (await agent.fetch(path)).text()).toContain('suspended since');
      expect((await theirs.fetch('/dashboard')).status).toBe(303);
      expect((await call('GET', `${ts.api}/models`, { key: user.key })).status).toBe(401);
      const browser = new Agent(ts.url, ts.config.publicUrl);
      const login = await (await browser.fetch('/login')).text();
      const refused = await browser.fetch('/login', { form: { _csrf: hiddenField(login, '_csrf'), username: user.username, password: PASSWORD } });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('This account is suspended.');
      expect(browser.cookies.has('serika_session')).toBe(false);
      expect((await post(agent, path, `${path}/unsuspend`)).status).toBe(303);
      expect((await call('GET', `${ts.api}/models`, { key: user.key })).status).not.toBe(401);
      await signIn(ts, user.username);
    });

    it('resets second factors, deletes, rotates keys, and every action is in the Audit page with the admin as actor', async () => {
      expect((await reauth(agent)).status).toBe(303);
      const user = await seedUser(ts, `gone_${dialect}`);
      const path = `/admin/users/${user.userId}`;
      // A passkey is a factor the reset must take too: one an intruder added would otherwise still sign in alone.
      await ts.services.storage.db
        .insertInto('webauthn_credentials')
        .values({ id: `cred_${dialect}`, user_id: user.userId, name: 'Planted', public_key: 'pk', counter: 0, transports: null, multi_device: 0, backed_up: 0, created_at: Date.now(), last_used_at: null })
        .execute();
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toContain('passkey');
      expect((await post(agent, path, `${path}/reset-factors`)).status).toBe(303);
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual([]);
      expect(await ts.services.storage.db.selectFrom('webauthn_credentials').select('id').where('user_id', '=', user.userId).execute()).toEqual([]);
      expect((await post(agent, '/admin/signing-keys', '/admin/signing-keys/rotate')).status).toBe(303);
      expect((await post(agent, path, `${path}/delete`, { confirm: 'not the name' })).status).toBe(400);
      expect((await post(agent, path, `${path}/delete`, { confirm: user.username })).status).toBe(303);
      expect(await ts.services.users.findById(user.userId)).toBeUndefined();
      const audit = await (await agent.fetch('/admin/audit')).text();
      for (const type of ['admin.reauthenticated', 'account.suspended', 'account.unsuspended', 'second_factors.reset', 'signing_keys.rotated', 'account.deleted', 'sign_in.refused']) {
        expect(audit).toContain(`data-event="${type}"`);
      }
      const mine = await ts.services.storage.db.selectFrom('audit_events').select(['type', 'actor_id']).where('type', 'in', ['account.suspended', 'second_factors.reset', 'account.deleted', 'signing_keys.rotated']).execute();
      expect(mine.length).toBeGreaterThanOrEqual(4);
      expect(mine.every((e) => e.actor_id === admin.userId)).toBe(true);
      const filtered = await (await agent.fetch('/admin/audit?type=account.deleted')).text();
      expect(filtered).toContain('data-event="account.deleted"');
      expect(filtered).not.toContain('data-event="account.suspended"');
    });

    it('searches and pages users and clients through the admin API; refuses a non-admin key (403) and a suspended admin key (401)', async () => {
      const prefix = `pg${dialect.slice(0, 2)}_`;
      for (let i = 0; i < 5; i++) await seedUser(ts, `${prefix}${i}`);
      const first = await call('GET', `${ts.url}/admin/api/users?q=${prefix.toUpperCase()}&limit=2`, { key: admin.key });
      expect(first.status).toBe(200);
      expect(first.json.object).toBe('list');
      expect(first.json.data.map((u: { username: string }) => u.username)).toEqual([`${prefix}0`, `${prefix}1`]);
      expect(first.json.has_more).toBe(true);
      expect(Object.keys(first.json.data[0]).sort()).toEqual(['createdAt', 'email', 'id', 'role', 'suspended', 'username']);
      const rest = await call('GET', `${ts.url}/admin/api/users?q=${prefix}&limit=10&after=${first.json.last_id}`, { key: admin.key });
      expect(rest.json.data.map((u: { username: string }) => u.username)).toEqual([`${prefix}2`, `${prefix}3`, `${prefix}4`]);
      expect(rest.json.has_more).toBe(false);

      const owner = await seedUser(ts, `${prefix}owner`);
      const created = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name: `Zeta ${prefix}`, redirectUris: ['https://app.example/cb'], scopes: ['profile'] } });
      expect(created.status).toBe(201);
      const clients = await call('GET', `${ts.url}/admin/api/clients?q=zeta`, { key: admin.key });
      expect(clients.status).toBe(200);
      expect(clients.json.data).toEqual([expect.objectContaining({ clientId: created.json.clientId, ownerId: owner.userId, users: 0, verified: false, suspended: false })]);

      const denied = await call('GET', `${ts.url}/admin/api/users`, { key: owner.key });
      expect(denied.status).toBe(403);
      expect(denied.json.error).toEqual(expect.objectContaining({ code: 'permission_denied', type: 'invalid_request_error' }));
      expect((await call('POST', `${ts.url}/admin/api/users/${admin.userId}/suspend`, { key: owner.key })).status).toBe(403);

      const other = await seedUser(ts, `${prefix}admin2`);
      await ts.services.userAdmin.setRole(other.userId, 'admin', null);
      const suspended = await call('POST', `${ts.url}/admin/api/users/${other.userId}/suspend`, { key: admin.key });
      expect(suspended.status).toBe(200);
      expect(suspended.json).toEqual(expect.objectContaining({ id: other.userId, role: 'admin', suspended: true }));
      const dead = await call('GET', `${ts.url}/admin/api/users`, { key: other.key });
      expect(dead.status).toBe(401);
      expect(dead.json.error.code).toBe('invalid_api_key');
      const back = await call('POST', `${ts.url}/admin/api/users/${other.userId}/unsuspend`, { key: admin.key });
      expect(back.json.suspended).toBe(false);
      expect((await call('GET', `${ts.url}/admin/api/users`, { key: other.key })).status).toBe(200);
    });

    it('verifies and suspends an app through the admin API: consent says so, its tokens die, both are audited', async () => {
      const owner = await seedUser(ts, `appowner_${dialect}`);
      const client = await registerClient(ts, owner, { name: `Console App ${dialect}`, scopes: ['profile'] });
      const user = await userWithSession(ts, `appuser_${dialect}`);
      const consent = async () => (await user.agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge, { prompt: 'consent' })))).text();
      expect(await consent()).toContain('Serika has not verified this app.');

      const api = (action: string, key = admin.key, id = client.clientId) => call('POST', `${ts.url}/admin/api/clients/${encodeURIComponent(id)}/${action}`, { key });
      const denied = await api('verify', owner.key);
      expect(denied.status).toBe(403);
      expect(denied.json.error).toEqual(expect.objectContaining({ code: 'permission_denied', type: 'invalid_request_error' }));
      const unknown = await api('suspend', admin.key, 'client_0000000000000000');
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.type).toBeDefined();

      const verified = await api('verify');
      expect(verified.status).toBe(200);
      expect(verified.json).toEqual(expect.objectContaining({ clientId: client.clientId, verified: true, suspended: false, ownerId: owner.userId, users: 0 }));
      expect(await consent()).toContain('Verified by Console Ops');

      const { code, verifier } = await obtainCode(ts, user.agent, client);
      const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(tokens.status).toBe(200);
      const bearer = { authorization: `Bearer ${tokens.json.access_token}` };
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: bearer })).status).toBe(200);

      const suspended = await api('suspend');
      expect(suspended.status).toBe(200);
      expect(suspended.json).toEqual(expect.objectContaining({ verified: true, suspended: true, users: 1 }));
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: bearer })).status).toBe(401);
      const page = await user.agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge)));
      expect(page.status).toBe(403);
      expect(await page.text()).toContain('is suspended');

      expect((await reauth(agent)).status).toBe(303);
      const audit = await (await agent.fetch(`/admin/audit?type=client.suspended`)).text();
      expect(audit).toContain('data-event="client.suspended"');
      expect(await (await agent.fetch(`/admin/audit?type=client.verified`)).text()).toContain('data-event="client.verified"');
      const events = await ts.services.storage.db.selectFrom('audit_events').select(['type', 'actor_id']).where('client_id', '=', client.clientId).execute();
      expect(events).toEqual(expect.arrayContaining([{ type: 'client.verified', actor_id: admin.userId }, { type: 'client.suspended', actor_id: admin.userId }]));

      // Back through the API: unsuspend and unverify.
      expect((await api('unsuspend')).json.suspended).toBe(false);
      expect((await api('unverify')).json.verified).toBe(false);
    });

    it("verifies, suspends and restores an app with the Apps page's buttons", async () => {
      expect((await reauth(agent)).status).toBe(303);
      const owner = await seedUser(ts, `btnowner_${dialect}`);
      const client = await registerClient(ts, owner, { name: `Button App ${dialect}`, scopes: ['profile'] });
      const path = `/admin/apps/${client.clientId}`;
      const before = await (await agent.fetch(path)).text();
      expect(before).toContain(`action="${path}/verify"`);
      expect(before).toContain(`action="${path}/suspend"`);
      for (const action of ['verify', 'suspend']) {
        const done = await post(agent, path, `${path}/${action}`);
        expect(done.status).toBe(303);
        expect(done.headers.get('location')).toBe(path);
      }
      const after = await (await agent.fetch(path)).text();
      expect(after).toContain(`action="${path}/unverify"`);
      expect(after).toContain(`action="${path}/unsuspend"`);
      expect(await ts.services.clients.findRegistered(client.clientId)).toEqual(expect.objectContaining({ verifiedAt: expect.any(Number), suspendedAt: expect.any(Number) }));
      for (const action of ['unverify', 'unsuspend']) expect((await post(agent, path, `${path}/${action}`)).status).toBe(303);
      expect(await ts.services.clients.findRegistered(client.clientId)).toEqual(expect.objectContaining({ verifiedAt: null, suspendedAt: null }));
      // A POST without the CSRF token is refused; an unknown app is a 404.
      expect((await agent.fetch(`${path}/suspend`, { form: { _csrf: 'forged' } })).status).toBe(403);
      expect((await post(agent, path, '/admin/apps/client_0000000000000000/verify')).status).toBe(404);
      const events = await ts.services.storage.db.selectFrom('audit_events').select(['type', 'actor_id']).where('client_id', '=', client.clientId).where('type', '!=', 'client.created').execute();
      expect(events.map((e) => e.type).sort()).toEqual(['client.suspended', 'client.unsuspended', 'client.unverified', 'client.verified']);
      expect(events.every((e) => e.actor_id === admin.userId)).toBe(true);
    });
  });
});
