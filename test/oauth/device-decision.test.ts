import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_CODE_ALPHABET } from '../../src/oauth/device/user-codes.js';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { DIALECTS, dialectAvailable, failInserts } from '../helpers/databases.js';
import { basic, form, hiddenField, tokenRequest, userWithSession, type Agent } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

/** A well-formed code nobody was given (1 in 2.56e10 that it is someone's). */
const randomCode = () => Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');

/**
 * SPEC §9 (issue 30): the decision on /device honours the page's own guard —
 * the wrong-code limit counts and waits there too, a decision comes from the
 * confirmation page shown for that code (a one-time id), it is audited, and
 * it is taken in one transaction with the consent it records.
 */
describe.each(DIALECTS)('the device decision and its guard (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let tv: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    ({ user: owner } = await userWithSession(ts));
    const made = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name: 'Living Room TV', redirectUris: ['http://127.0.0.1/cb'], scopes: ['profile', 'generations'], grantTypes: [DEVICE] } });
    tv = made.json;
  });
  afterAll(async () => ts?.close());

  /** The victim's device asks for a code. */
  const start = async (): Promise<{ device_code: string; user_code: string }> => {
    const started = await call('POST', `${ts.api}/oauth/device_authorization`, {
      body: form({ scope: 'profile generations' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(tv.clientId, tv.clientSecret) },
    });
    expect(started.status).toBe(200);
    return started.json;
  };
  const status = async (deviceCode: string) =>
    (await ts.services.storage.db.selectFrom('oauth_device_codes').select(['status', 'user_id']).where('device_code_hash', '=', credentialKey(deviceCode)).executeTakeFirstOrThrow()).status;
  const poll = (deviceCode: string) => tokenRequest(ts, form({ grant_type: DEVICE, device_code: deviceCode }), { authorization: basic(tv.clientId, tv.clientSecret) });
  const grantOf = (userId: string) => ts.services.storage.db.selectFrom('oauth_grants').selectAll().where('user_id', '=', userId).where('client_id', '=', tv.clientId).executeTakeFirst();
  /** The confirmation page for a code, as the user's browser gets it. */
  const confirmationPage = async (who: Agent, userCode: string) => {
    const page = await who.fetch(`/device?user_code=${encodeURIComponent(userCode)}`);
    const text = await page.text();
    expect(page.status, text).toBe(200);
    return { csrf: hiddenField(text, '_csrf'), userCode: hiddenField(text, 'user_code'), confirmation: hiddenField(text, 'confirmation') };
  };
  /** A decision POST with any fields (a fresh CSRF token from the code form when none is given). */
  const post = async (who: Agent, fields: Record<string, string | undefined>) => {
    const csrf = fields._csrf ?? hiddenField(await (await who.fetch('/device')).text(), '_csrf');
    return who.fetch('/device/decision', { form: { ...fields, _csrf: csrf } });
  };
  const typeCode = async (who: Agent, code: string) => {
    const f = await (await who.fetch('/device')).text();
    return who.fetch('/device', { form: { _csrf: hiddenField(f, '_csrf'), user_code: code } });
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('counts wrong codes posted as decisions: after 5, a wait on the decision and on the code form alike', async () => {
      const { agent: guesser } = await userWithSession(ts);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await post(guesser, { user_code: randomCode(), confirmation: 'serika_dcf_guess', decision: 'allow' })).status);
      expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
      expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
      const victim = await start();
      const locked = await typeCode(guesser, victim.user_code);
      expect(locked.status).toBe(429);
      expect(await locked.text()).toMatch(/Too many wrong codes\. Try again in \d+ minutes?/);
    });

    it('counts guesses sent all at once: 30 in parallel get at most 5 look-ups, then the wait', async () => {
      const { agent: guesser } = await userWithSession(ts);
      const victim = await start();
      const csrf = hiddenField(await (await guesser.fetch('/device')).text(), '_csrf');
      const guesses = Array.from({ length: 30 }, () => post(guesser, { _csrf: csrf, user_code: randomCode(), confirmation: 'serika_dcf_guess', decision: 'allow' }));
      const statuses = (await Promise.all(guesses)).map((r) => r.status);
      expect(statuses.filter((s) => s === 400).length).toBeLessThanOrEqual(5);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(25);
      expect(statuses.filter((s) => s !== 400 && s !== 429)).toEqual([]);
      expect((await typeCode(guesser, victim.user_code)).status).toBe(429);
    });

    it('a code link another site sends the user to only fills in the form: nothing is looked up or counted', async () => {
      const { agent } = await userWithSession(ts);
      const crossSite = { 'sec-fetch-site': 'cross-site' };
      for (let i = 0; i < 8; i++) {
        const page = await agent.fetch(`/device?user_code=${randomCode()}`, { headers: crossSite });
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('Connect a device');
      }
      const own = await start();
      const prefilled = await (await agent.fetch(`/device?user_code=${own.user_code}`, { headers: crossSite })).text();
      expect(prefilled).toContain(`value="${own.user_code}"`);
      expect(prefilled).not.toContain('name="confirmation"');
      // Not locked: the user's own code, typed or opened from their own device's link, is confirmed.
      expect((await confirmationPage(agent, own.user_code)).confirmation).toMatch(/^serika_dcf_/);
    });

    it("during the wait no decision is taken: the victim's code stays pending even with a confirmation page opened before", async () => {
      const { user: attacker, agent } = await userWithSession(ts);
      const victim = await start();
      const page = await confirmationPage(agent, victim.user_code);
      for (let i = 0; i < 5; i++) expect((await typeCode(agent, randomCode())).status).toBe(400);
      const decided = await post(agent, { _csrf: page.csrf, user_code: page.userCode, confirmation: page.confirmation, decision: 'allow' });
      expect(decided.status).toBe(429);
      expect(await decided.text()).not.toContain('Device connected');
      expect(await status(victim.device_code)).toBe('pending');
      expect((await poll(victim.device_code)).json.error).toBe('authorization_pending');
      expect(await grantOf(attacker.userId)).toBeUndefined();
    });

    it('deciding a code of your own does not reset the count (5 wrong codes per 10 minutes)', async () => {
      const { agent } = await userWithSession(ts);
      for (let i = 0; i < 4; i++) expect((await typeCode(agent, randomCode())).status).toBe(400);
      const own = await start();
      const page = await confirmationPage(agent, own.user_code);
      expect((await post(agent, { _csrf: page.csrf, user_code: page.userCode, confirmation: page.confirmation, decision: 'deny' })).status).toBe(200);
      expect((await typeCode(agent, randomCode())).status).toBe(400);
      expect((await typeCode(agent, (await start()).user_code)).status).toBe(429);
    });

    it('a decision needs the one-time id of the confirmation page shown to this user for this code, and it works once', async () => {
      const { user, agent } = await userWithSession(ts);
      const { agent: other } = await userWithSession(ts);
      const code = await start();
      const page = await confirmationPage(agent, code.user_code);

      // The typed code alone (a forged or replayed form) decides nothing.
      for (const confirmation of [undefined, '', 'serika_dcf_made_up']) {
        const bare = await post(agent, { user_code: code.user_code, confirmation, decision: 'allow' });
        expect(bare.status).toBe(400);
        expect(await bare.text()).toContain('did not come from the confirmation page');
      }
      // Another user's page for the same code, and this user's page for another code.
      const theirs = await confirmationPage(other, code.user_code);
      expect((await post(agent, { user_code: code.user_code, confirmation: theirs.confirmation, decision: 'allow' })).status).toBe(400);
      const second = await start();
      expect((await post(agent, { user_code: second.user_code, confirmation: page.confirmation, decision: 'allow' })).status).toBe(400);
      expect(await status(code.device_code)).toBe('pending');
      expect(await status(second.device_code)).toBe('pending');

      // A page too old: its id has expired.
      const stale = await confirmationPage(agent, second.user_code);
      await ts.services.storage.db.updateTable('oauth_device_confirmations').set({ expires_at: 1 }).where('device_code_hash', '=', credentialKey(second.device_code)).where('user_id', '=', user.userId).execute();
      expect((await post(agent, { _csrf: stale.csrf, user_code: stale.userCode, confirmation: stale.confirmation, decision: 'allow' })).status).toBe(400);
      expect(await status(second.device_code)).toBe('pending');

      // The page's own id decides, once.
      const decided = await post(agent, { _csrf: page.csrf, user_code: page.userCode, confirmation: page.confirmation, decision: 'deny' });
      expect(decided.status).toBe(200);
      expect(await decided.text()).toContain('Request denied');
      const again = await post(agent, { _csrf: page.csrf, user_code: page.userCode, confirmation: page.confirmation, decision: 'allow' });
      expect(again.status).toBe(400);
      expect(await status(code.device_code)).toBe('denied');
      // The other pages of a decided code decide nothing either.
      expect((await post(other, { _csrf: theirs.csrf, user_code: theirs.userCode, confirmation: theirs.confirmation, decision: 'allow' })).status).toBe(400);
      expect(await status(code.device_code)).toBe('denied');
    });

    it('keeps at most 5 open confirmation pages per user and code: opening more retires the oldest', async () => {
      const { agent } = await userWithSession(ts);
      const code = await start();
      const pages = [];
      for (let i = 0; i < 20; i++) pages.push(await confirmationPage(agent, code.user_code));
      const rows = await ts.services.storage.db.selectFrom('oauth_device_confirmations').select('id_hash').where('device_code_hash', '=', credentialKey(code.device_code)).execute();
      expect(rows).toHaveLength(5);
      const oldest = pages[0]!;
      expect((await post(agent, { _csrf: oldest.csrf, user_code: oldest.userCode, confirmation: oldest.confirmation, decision: 'deny' })).status).toBe(400);
      const newest = pages[19]!;
      expect((await post(agent, { _csrf: newest.csrf, user_code: newest.userCode, confirmation: newest.confirmation, decision: 'deny' })).status).toBe(200);
      expect(await status(code.device_code)).toBe('denied');
    });

    it('a wrong code with no valid one-time id is refused and counted as a wrong code', async () => {
      const { agent } = await userWithSession(ts);
      const reply = await post(agent, { user_code: randomCode(), decision: 'allow' });
      expect(reply.status).toBe(400);
      expect(await reply.text()).toContain('That code is not valid or has expired. Check it on your device (4 more tries before a 10-minute wait).');
    });

    it('audits an approval and a denial with the user, the app, and the address the device asked from', async () => {
      const { user, agent } = await userWithSession(ts);
      const startedFrom: string[] = [];
      for (const decision of ['allow', 'deny'] as const) {
        const code = await start();
        const row = await ts.services.storage.db.selectFrom('oauth_device_codes').select('request_ip').where('device_code_hash', '=', credentialKey(code.device_code)).executeTakeFirstOrThrow();
        startedFrom.push(row.request_ip!);
        const page = await confirmationPage(agent, code.user_code);
        expect((await post(agent, { _csrf: page.csrf, user_code: page.userCode, confirmation: page.confirmation, decision })).status).toBe(200);
      }
      const events = (await ts.services.audit.listForUser(user.userId)).filter((e) => e.type.startsWith('device.'));
      expect(events.map((e) => e.type).sort()).toEqual(['device.approved', 'device.denied']);
      for (const event of events) {
        expect(event).toMatchObject({ userId: user.userId, clientId: tv.clientId, detail: { deviceIp: startedFrom[0] } });
        expect(event.ip).toBeTruthy();
      }
      const activity = await (await agent.fetch('/dashboard/activity')).text();
      expect(activity).toContain('A sign-in from a device was allowed');
    });

    it('a failure midway stores nothing: the code stays pending, no grant and no limit; the same page then decides', async () => {
      const { user, agent } = await userWithSession(ts);
      const code = await start();
      const page = await confirmationPage(agent, code.user_code);
      const db = ts.services.storage.db;
      // The budget is written after the code is decided and the grant stored: that write fails.
      const restore = await failInserts(db, dialect, 'oauth_budgets');
      const fields = { _csrf: page.csrf, user_code: page.userCode, confirmation: page.confirmation, decision: 'allow', budget: 'limit', budget_tokens: '1000', budget_period: 'day' };
      try {
        const failed = await post(agent, fields);
        expect(failed.status).toBeGreaterThanOrEqual(500);
        expect(await status(code.device_code)).toBe('pending');
        expect(await grantOf(user.userId)).toBeUndefined();
        expect(await db.selectFrom('oauth_budgets').selectAll().where('user_id', '=', user.userId).executeTakeFirst()).toBeUndefined();
        expect((await ts.services.audit.listForUser(user.userId)).map((e) => e.type)).not.toContain('device.approved');
        expect((await poll(code.device_code)).json.error).toBe('authorization_pending');
      } finally {
        await restore();
      }
      const decided = await post(agent, fields);
      expect(decided.status).toBe(200);
      expect(await decided.text()).toContain('Device connected');
      expect((await grantOf(user.userId))?.scopes.split(' ').sort()).toEqual(['generations', 'profile']);
      expect(await status(code.device_code)).toBe('approved');
    });
  });
});
