import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relyingPartyOf } from '../../src/accounts/second-factors/passkeys.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { PASSWORD, hiddenField, signIn, type Agent } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { SoftCredential } from '../helpers/soft-authenticator.js';
import { enrollTotp, totpCode } from '../helpers/two-factor.js';

/**
 * SPEC §12: the admin pages ask every 15 minutes for a second factor, or the password when the admin has none,
 * and nothing else satisfies that check: not the password the Account page asks of an older session (SPEC §11's
 * changes, accounts/recent-auth.ts). An admin whose one factor is a passkey re-authenticates with it.
 */
describe.each(DIALECTS)('admin re-authentication (%s)', (dialect) => {
  let ts: TestServer;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_LOGIN: '0' });
  });
  afterAll(async () => ts?.close());

  /** An admin signed in with the password alone (their factor is added after, so this session stays). */
  const newAdmin = async () => {
    const admin = await seedUser(ts);
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
    return { admin, agent: await signIn(ts, admin.username) };
  };
  const sentToReauth = async (agent: Agent) => {
    const response = await agent.fetch('/admin/users');
    return response.status === 303 && response.headers.get('location') === '/admin/reauth?return_to=%2Fadmin%2Fusers';
  };
  const reauthPage = async (agent: Agent) => (await agent.fetch('/admin/reauth?return_to=%2Fadmin%2Fusers')).text();
  const postReauth = async (agent: Agent, proof: string) =>
    agent.fetch('/admin/reauth', { form: { _csrf: hiddenField(await reauthPage(agent), '_csrf'), return_to: '/admin/users', proof } });
  const ageSession = (userId: string) => ts.services.storage.db.updateTable('sessions').set({ created_at: Date.now() - 16 * 60_000 }).where('user_id', '=', userId).execute();

  describe.skipIf(!dialectAvailable(dialect))('over HTTP', () => {
    it('an admin with an authenticator app who gave only the password still gets sent to /admin/reauth', async () => {
      const { admin, agent } = await newAdmin();
      const { secret } = await enrollTotp(agent);
      await ageSession(admin.userId);

      // The set-up's password step (the app is on: it goes nowhere) and the Account page's confirmation of an older
      // session, each with the right password: neither opens the console.
      const account = await (await agent.fetch('/dashboard/account')).text();
      const setupPassword = await agent.fetch('/dashboard/account/two-factor/setup/password', { form: { _csrf: hiddenField(account, '_csrf'), password: PASSWORD } });
      expect(setupPassword.status).toBe(303);
      expect(await sentToReauth(agent)).toBe(true);
      const email = await agent.fetch('/dashboard/account/email', { form: { _csrf: hiddenField(account, '_csrf'), email: `${admin.username}@example.com`, current_password: PASSWORD } });
      expect(email.status).toBe(200);
      expect(await sentToReauth(agent)).toBe(true);

      // The re-authentication itself asks for the code: the password is refused there too.
      const page = await reauthPage(agent);
      expect(page).toContain('Authentication code');
      expect(page).not.toContain('data-passkey-options');
      expect((await postReauth(agent, PASSWORD)).status).toBe(401);
      expect(await sentToReauth(agent)).toBe(true);
      const passed = await postReauth(agent, totpCode(secret, 1));
      expect(passed.status).toBe(303);
      expect((await agent.fetch('/admin/users')).status).toBe(200);
    });

    it('an admin whose one factor is a passkey re-authenticates with it, never with the password', async () => {
      const { admin, agent } = await newAdmin();
      const rp = relyingPartyOf(ts.config.publicUrl);
      const credential = new SoftCredential(rp, admin.userId);
      const created = await ts.services.passkeys.registrationOptions({ id: admin.userId, username: admin.username }, 'test-binding');
      expect((await ts.services.passkeys.register(admin.userId, 'Admin key', credential.register(created.challenge), 'test-binding')).ok).toBe(true);

      const page = await reauthPage(agent);
      expect(page).toContain('for your passkey');
      expect(page).toContain('data-passkey-options="/admin/reauth/passkey/options"');
      expect(page).toContain('/assets/passkeys.js');
      expect(page).not.toContain('autocomplete="current-password"');
      const byPassword = await postReauth(agent, PASSWORD);
      expect(byPassword.status).toBe(400);
      expect(await sentToReauth(agent)).toBe(true);

      const csrf = hiddenField(page, '_csrf');
      const options = await agent.fetch('/admin/reauth/passkey/options', { form: { _csrf: csrf, return_to: '/admin/users' } });
      expect(options.status).toBe(200);
      const { challenge, allowCredentials } = (await options.json()) as { challenge: string; allowCredentials: Array<{ id: string }> };
      expect(allowCredentials.map((c) => c.id)).toEqual([Buffer.from(credential.id).toString('base64url')]);
      // An answer to another challenge (a made-up one) is refused, and opens nothing.
      const forged = await agent.fetch('/admin/reauth/passkey', { form: { _csrf: csrf, return_to: '/admin/users', response: credential.authenticate('bm90LWEtY2hhbGxlbmdl') } });
      expect(forged.status).toBe(401);
      expect(await sentToReauth(agent)).toBe(true);
      const answered = await agent.fetch('/admin/reauth/passkey', { form: { _csrf: csrf, return_to: '/admin/users', response: credential.authenticate(challenge) } });
      expect(answered.status).toBe(303);
      expect(answered.headers.get('location')).toBe('/admin/users');
      expect((await agent.fetch('/admin/users')).status).toBe(200);
      const events = await ts.services.storage.db.selectFrom('audit_events').select('detail').where('user_id', '=', admin.userId).where('type', '=', 'admin.reauthenticated').execute();
      expect(events.map((e) => JSON.parse(e.detail!))).toEqual([{ factor: 'passkey' }]);
    });

    it('the passkey routes are for admins only, like every admin route', async () => {
      const user = await seedUser(ts);
      const them = await signIn(ts, user.username);
      const csrf = hiddenField(await (await them.fetch('/dashboard/account')).text(), '_csrf');
      expect((await them.fetch('/admin/reauth/passkey/options', { form: { _csrf: csrf } })).status).toBe(404);
    });
  });
});
