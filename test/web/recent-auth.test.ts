import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECENT_AUTH_MS, recentlyAuthenticated } from '../../src/accounts/recent-auth.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { PASSWORD, hiddenField, signIn, type Agent } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';

const ACCOUNT = '/dashboard/account';
const SETUP = `${ACCOUNT}/two-factor/setup`;
const PASSKEY_OPTIONS = `${ACCOUNT}/passkeys/options`;

/**
 * SPEC §11's account changes ask nothing extra of a session that signed in, or gave its password again, within
 * 15 minutes ("Email" + "Save", "Set up authenticator app" straight to the QR code, "Add a passkey" with a name),
 * and the password (or a current code) of an older one: one rule (accounts/recent-auth.ts) on the services'
 * clock, which this server's test holds (StartOptions.now) and moves past the window.
 */
describe.each(DIALECTS)('recently authenticated sessions (%s)', (dialect) => {
  let ts: TestServer;
  let offset = 0;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_LOGIN: '0' }, { now: () => Date.now() + offset });
  });
  afterAll(async () => ts?.close());

  /** A user signed in now, on the server's clock. */
  const freshUser = async () => {
    const user = await seedUser(ts);
    return { user, agent: await signIn(ts, user.username) };
  };
  const page = async (agent: Agent, path = ACCOUNT) => {
    const response = await agent.fetch(path);
    expect(response.status).toBe(200);
    return response.text();
  };
  const saveEmail = async (agent: Agent, email: string, password?: string) => {
    const account = await page(agent);
    const form: Record<string, string> = { _csrf: hiddenField(account, '_csrf'), email };
    if (password !== undefined) form.current_password = password;
    return agent.fetch(`${ACCOUNT}/email`, { form });
  };
  const passkeyOptions = async (agent: Agent, proof?: string) => {
    const form: Record<string, string> = { _csrf: hiddenField(await page(agent), '_csrf') };
    if (proof !== undefined) form.proof = proof;
    return agent.fetch(PASSKEY_OPTIONS, { form });
  };
  const emailOf = async (userId: string) => (await ts.services.users.findById(userId))?.email;

  it('is one rule: signed in or confirmed within 15 minutes', () => {
    const at = 1_000_000;
    expect(recentlyAuthenticated({ authTime: at, confirmedAt: null }, at + RECENT_AUTH_MS - 1)).toBe(true);
    expect(recentlyAuthenticated({ authTime: at, confirmedAt: null }, at + RECENT_AUTH_MS)).toBe(false);
    expect(recentlyAuthenticated({ authTime: at, confirmedAt: at + 60_000 }, at + RECENT_AUTH_MS)).toBe(true);
  });

  describe.skipIf(!dialectAvailable(dialect))('over HTTP', () => {
    it('a fresh session saves an address, sees the QR code and gets a passkey challenge with nothing more', async () => {
      offset = 0;
      const { user, agent } = await freshUser();
      const account = await page(agent);
      expect(account).not.toContain('Confirm with your password');
      expect(account).not.toContain('Password or current code');
      const saved = await saveEmail(agent, `${user.username}@example.com`);
      expect(saved.status).toBe(200);
      expect(await saved.text()).toContain('We sent a verification link');
      expect(await emailOf(user.userId)).toBe(`${user.username}@example.com`);
      const setup = await page(agent, SETUP);
      expect(setup).toContain('totp-secret');
      expect(setup).not.toContain('setup_password');
      const options = await passkeyOptions(agent);
      expect(options.status).toBe(200);
      expect(((await options.json()) as { challenge: string }).challenge).toMatch(/^[A-Za-z0-9_-]+$/);
    });

    it('an older session is asked the password for the address, and a right one confirms it for 15 minutes more', async () => {
      offset = 0;
      const { user, agent } = await freshUser();
      offset = RECENT_AUTH_MS + 60_000;
      const account = await page(agent);
      expect(account).toContain('Confirm with your password');
      expect(account).toContain('Password or current code');
      const missing = await saveEmail(agent, `${user.username}@example.com`);
      expect(missing.status).toBe(400);
      expect(await missing.text()).toContain('Enter your password to save the address.');
      const wrong = await saveEmail(agent, `${user.username}@example.com`, 'not the password');
      expect(wrong.status).toBe(400);
      expect(await emailOf(user.userId)).toBeNull();
      expect((await saveEmail(agent, `${user.username}@example.com`, PASSWORD)).status).toBe(200);
      expect(await emailOf(user.userId)).toBe(`${user.username}@example.com`);
      // Confirmed: the next change, and a passkey, ask nothing for 15 minutes; then they ask again.
      expect(await page(agent)).not.toContain('Confirm with your password');
      expect((await saveEmail(agent, `${user.username}.2@example.com`)).status).toBe(200);
      expect((await passkeyOptions(agent)).status).toBe(200);
      offset += RECENT_AUTH_MS;
      expect((await saveEmail(agent, `${user.username}.3@example.com`)).status).toBe(400);
      expect(await emailOf(user.userId)).toBe(`${user.username}.2@example.com`);
    });

    it('an older session sees no TOTP secret before the password, and gets no passkey challenge without a proof', async () => {
      offset = 0;
      const { user, agent } = await freshUser();
      offset = RECENT_AUTH_MS + 60_000;
      const ask = await page(agent, SETUP);
      expect(ask).toContain('setup_password');
      expect(ask).not.toContain('totp-secret');
      // No secret was even made for it.
      expect(await ts.services.storage.db.selectFrom('totp_factors').select('user_id').where('user_id', '=', user.userId).execute()).toEqual([]);
      expect((await agent.fetch(SETUP, { form: { _csrf: hiddenField(ask, '_csrf'), code: '123456' } })).status).toBe(403);

      const empty = await passkeyOptions(agent);
      expect(empty.status).toBe(400);
      expect(((await empty.json()) as { error: string }).error).toContain('more than 15 minutes ago');
      const refused = await passkeyOptions(agent, 'wrong password');
      expect(refused.status).toBe(400);
      expect(await refused.json()).toEqual({ error: 'That is neither a current code nor your password.' });
      expect((await passkeyOptions(agent, PASSWORD)).status).toBe(200);

      // The password given for the passkey confirmed the session: the set-up now shows its secret.
      expect(await page(agent, SETUP)).toContain('totp-secret');
    });

    it('the set-up password page confirms an older session, and the set-up goes on', async () => {
      offset = 0;
      const { agent } = await freshUser();
      offset = RECENT_AUTH_MS + 60_000;
      const ask = await page(agent, SETUP);
      const given = await agent.fetch(`${SETUP}/password`, { form: { _csrf: hiddenField(ask, '_csrf'), password: PASSWORD } });
      expect(given.status).toBe(303);
      expect(given.headers.get('location')).toBe(SETUP);
      expect(await page(agent, SETUP)).toContain('totp-secret');
    });
  });
});
