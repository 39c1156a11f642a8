import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountMail } from '../../src/accounts/account-mail.js';
import { passwordStamp } from '../../src/accounts/email-links.js';
import { PasswordReset } from '../../src/accounts/password-reset.js';
import { hashPassword } from '../../src/accounts/passwords.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, PASSWORD, hiddenField, signIn } from '../helpers/oauth.js';
import { randomAddress, seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { enrollTotp, postPassword, postSecondStep, totpCode } from '../helpers/two-factor.js';

const NEW_PASSWORD = 'a brand new passphrase';

/**
 * What a reset may not do (security review of SPEC §11's reset): hash for a
 * dead token, be posted without limit, leave a half-session of the old
 * password alive, or send its notice anywhere but where the link went.
 */
describe.each(DIALECTS)('password reset guards (%s)', (dialect) => {
  let ts: TestServer;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { KEY_ENCRYPTION_SECRETS: 'k'.repeat(40), RATE_LIMIT_LOGIN: '3', TRUST_PROXY: '127.0.0.1' });
  });
  afterAll(async () => ts?.close());

  /** A live reset link for the user, mailed to `email`, as request() would make it. */
  const resetLink = async (userId: string, email: string) => {
    const { password_hash } = await ts.services.storage.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow();
    return ts.services.emailLinks.create(ts.services.storage.db, { purpose: 'reset', userId, email, passwordStamp: passwordStamp(password_hash) });
  };
  /** Posts the reset form from `from` (its own address, for the per-IP limit). */
  const postReset = async (token: string, password: string, from = randomAddress()) => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const headers = { 'x-forwarded-for': from };
    const page = await (await agent.fetch('/password/forgot', { headers })).text();
    return agent.fetch('/password/reset', { form: { _csrf: hiddenField(page, '_csrf'), token, password }, headers });
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('runs the password hasher only for a live link', async () => {
      let hashes = 0;
      const s = ts.services;
      const reset = new PasswordReset({
        db: s.storage.db,
        links: s.emailLinks,
        pendingSignIns: s.pendingSignIns,
        sessions: s.sessions,
        hashPassword: (password) => (hashes++, hashPassword(password)),
        outbox: s.mailOutbox,
        mail: new AccountMail(ts.config.publicUrl),
        audit: s.audit,
        now: Date.now,
        mayMail: () => Promise.resolve(true),
        queued: () => {},
      });
      const user = await seedUser(ts);
      const stale = await resetLink(user.userId, 'a@example.com');
      // The password changes another way: the link made before is dead.
      await s.storage.db.updateTable('users').set({ password_hash: await hashPassword('changed meanwhile') }).where('id', '=', user.userId).execute();
      for (const token of ['x'.repeat(43), 'short', '', stale]) {
        expect(await reset.reset(token, NEW_PASSWORD)).toEqual({ reset: false });
      }
      expect(hashes).toBe(0);
      const live = await resetLink(user.userId, 'a@example.com');
      expect(await reset.reset(live, NEW_PASSWORD)).toEqual({ reset: true, userId: user.userId });
      expect(hashes).toBe(1);
    });

    it('refuses an unknown token at once and limits reset posts per address (RATE_LIMIT_LOGIN) with a 429 page', async () => {
      const from = randomAddress();
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await postReset('y'.repeat(43), NEW_PASSWORD, from)).status);
      expect(statuses).toEqual([400, 400, 400, 429]);
      const refused = await postReset('y'.repeat(43), NEW_PASSWORD, from);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.text()).toContain('Too many password resets were tried from your network');
      // Another address is not held up.
      expect((await postReset('y'.repeat(43), NEW_PASSWORD)).status).toBe(400);
    });

    it('ends half-sessions: a second step started with the old password cannot finish after a reset or a change', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const halfSession = async (password: string) => {
        const agent = new Agent(ts.url, ts.config.publicUrl);
        expect((await postPassword(agent, user.username, password)).headers.get('location')).toBe('/login/verify');
        return agent;
      };

      const beforeReset = await halfSession(PASSWORD);
      expect((await postReset(await resetLink(user.userId, 'a@example.com'), NEW_PASSWORD)).status).toBe(200);
      const afterReset = await beforeReset.fetch('/login/verify');
      expect(afterReset.status).toBe(303);
      expect(afterReset.headers.get('location')).toBe('/login');

      const beforeChange = await halfSession(NEW_PASSWORD);
      const owner = await halfSession(NEW_PASSWORD);
      expect((await postSecondStep(owner, totpCode(secret, 1))).status).toBe(303);
      const account = await (await owner.fetch('/dashboard/account')).text();
      const changed = await owner.fetch('/dashboard/account/password', { form: { _csrf: hiddenField(account, '_csrf'), current_password: NEW_PASSWORD, new_password: 'a third passphrase' } });
      expect(changed.status).toBe(200);
      expect((await beforeChange.fetch('/login/verify')).headers.get('location')).toBe('/login');
      expect((await beforeChange.fetch('/dashboard')).status).toBe(303);
      expect(await ts.services.storage.db.selectFrom('pending_sign_ins').select('id_hash').where('user_id', '=', user.userId).execute()).toEqual([]);
    });

    it("sends the reset notice to the address the link went to, even if the account's changed since", async () => {
      const user = await seedUser(ts);
      const token = await resetLink(user.userId, `${user.username}@example.com`);
      await ts.services.storage.db.updateTable('users').set({ email: `${user.username}.new@example.com` }).where('id', '=', user.userId).execute();
      expect((await postReset(token, NEW_PASSWORD)).status).toBe(200);
      const notices = await ts.services.storage.db.selectFrom('mail_outbox').select('recipient').where('recipient', 'like', `${user.username}%`).execute();
      expect(notices).toEqual([{ recipient: `${user.username}@example.com` }]);
    });
  });
});
