import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSealed, KeyEncryption } from '../../src/security/key-encryption.js';
import { reencrypt } from '../../src/security/sealed-columns.js';
import { SecondFactors } from '../../src/accounts/second-factors/service.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, PASSWORD, hiddenField, signIn } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { enrollTotp, openTotpSetup, postPassword, postSecondStep, shownRecoveryCodes, shownSecret, totpCode } from '../helpers/two-factor.js';

const KEY_SECRET = 'k'.repeat(40);

describe.each(DIALECTS)('second factors: TOTP, recovery codes, the second step (%s)', (dialect) => {
  let ts: TestServer;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { KEY_ENCRYPTION_SECRETS: KEY_SECRET, RATE_LIMIT_LOGIN: '0' });
  });
  afterAll(async () => ts?.close());

  const agentFor = () => new Agent(ts.url, ts.config.publicUrl);

  it('shows an unconfirmed set-up secret again for ten minutes, then makes a new one (an abandoned page secret dies)', async () => {
    if (!dialectAvailable(dialect)) return;
    let clock = Date.now();
    const factors = new SecondFactors(ts.services.storage.db, new KeyEncryption([KEY_SECRET]), ts.services.audit, () => clock);
    const user = await seedUser(ts);
    const first = await factors.setupSecret(user.userId);
    expect(first).toMatch(/^[A-Z2-7]+=*$/);
    clock += 9 * 60_000;
    expect(await factors.setupSecret(user.userId)).toBe(first);
    clock += 2 * 60_000;
    const second = await factors.setupSecret(user.userId);
    expect(second).toMatch(/^[A-Z2-7]+=*$/);
    expect(second).not.toBe(first);
    expect(await factors.setupSecret(user.userId)).toBe(second);
  });
  /** Sleeps until the user's code delay (from the failures table) is over. */
  const waitOutCodeDelay = async (userId: string) => {
    const wait = await ts.services.throttle.delayForKey(`otp:${userId}`);
    const row = await ts.services.storage.db.selectFrom('login_failures').select('last_failure_at').where('username_key', '=', `otp:${userId}`).executeTakeFirst();
    const left = row ? row.last_failure_at + wait - Date.now() : 0;
    if (left > 0) await sleep(left + 20);
  };
  const events = async (userId: string) =>
    (await ts.services.storage.db.selectFrom('audit_events').select(['type', 'detail']).where('user_id', '=', userId).orderBy('created_at').execute()).map((e) => ({
      type: e.type,
      detail: JSON.parse(e.detail ?? '{}') as Record<string, unknown>,
    }));

  describe.skipIf(!dialectAvailable(dialect))('over HTTP', () => {
    it('sets up the app from the page (QR and secret, a code confirms), seals the secret, asks for a code at sign-in, accepts each code once', async () => {
      const user = await seedUser(ts);
      const first = await signIn(ts, user.username);
      const account = await (await first.fetch('/dashboard/account')).text();
      expect(account).toContain('Two-factor authentication');
      expect(account).toContain('Set up authenticator app');

      // A session older than 15 minutes (one left open, or stolen) sees no secret before the password; a wrong one
      // shows none either (it can neither read nor plant one). A fresh session goes straight on (recent-auth.test.ts).
      await ts.services.storage.db.updateTable('sessions').set({ created_at: Date.now() - 16 * 60_000 }).where('user_id', '=', user.userId).execute();
      const ask = await (await first.fetch('/dashboard/account/two-factor/setup')).text();
      expect(ask).not.toContain('totp-secret');
      for (const password of ['', 'not the password', '123456']) {
        const refused = await first.fetch('/dashboard/account/two-factor/setup/password', { form: { _csrf: hiddenField(ask, '_csrf'), password } });
        expect(refused.status).toBe(400);
        const text = await refused.text();
        expect(text).toContain('That is not your password.');
        expect(text).not.toContain('totp-secret');
      }
      expect((await first.fetch('/dashboard/account/two-factor/setup', { form: { _csrf: hiddenField(ask, '_csrf'), code: '123456' } })).status).toBe(403);
      expect(await events(user.userId)).toContainEqual({ type: 'second_factor.add_refused', detail: { factor: 'password' } });

      // A wrong confirmation code turns nothing on.
      const setup = await openTotpSetup(first);
      const secret = shownSecret(setup);
      const wrong = await first.fetch('/dashboard/account/two-factor/setup', { form: { _csrf: hiddenField(setup, '_csrf'), code: totpCode(secret, 5) } });
      expect(wrong.status).toBe(400);
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual([]);

      // Another browser signed in with the password alone: turning the factor on ends it, not this one.
      const other = await signIn(ts, user.username);
      expect((await other.fetch('/dashboard/account')).status).toBe(200);
      const { codes, used } = await enrollTotp(first);
      const ended = await other.fetch('/dashboard/account');
      expect(ended.status).toBe(303);
      expect(ended.headers.get('location')).toContain('/login');
      expect((await first.fetch('/dashboard/account')).status).toBe(200);
      expect(await (await first.fetch('/dashboard/account')).text()).toContain('10 recovery codes left');
      const row = await ts.services.storage.db.selectFrom('totp_factors').selectAll().where('user_id', '=', user.userId).executeTakeFirstOrThrow();
      expect(isSealed(row.secret)).toBe(true);
      expect(row.secret).not.toContain(secret);
      const stored = await ts.services.storage.db.selectFrom('recovery_codes').select('code_hash').where('user_id', '=', user.userId).execute();
      expect(stored.map((r) => r.code_hash)).not.toContain(codes[0]);
      // `serika secrets reencrypt` covers TOTP secrets (under the same secret: left as they are).
      const results = await reencrypt(ts.services.storage.db, new KeyEncryption([KEY_SECRET]));
      expect(results.find((r) => r.column.table === 'totp_factors')?.unchanged).toBeGreaterThanOrEqual(1);

      // The password alone is no session: a half-session and the second step.
      const browser = agentFor();
      const password = await postPassword(browser, user.username, PASSWORD);
      expect(password.status).toBe(303);
      expect(password.headers.get('location')).toBe('/login/verify');
      expect((await browser.fetch('/dashboard')).headers.get('location')).toMatch(/^\/login/);
      const stepPage = await (await browser.fetch('/login/verify')).text();
      expect(stepPage).toContain('<label for="code">Authentication code</label>');
      expect(stepPage).toContain('>Verify</button>');

      // The code that confirmed the set-up was used: refused; the next step's code passes, once.
      expect((await postSecondStep(browser, used)).status).toBe(401);
      const next = totpCode(secret, 1);
      const passed = await postSecondStep(browser, next);
      expect(passed.status).toBe(303);
      expect(passed.headers.get('location')).toBe('/dashboard');
      expect((await browser.fetch('/dashboard')).status).toBe(200);
      expect((await browser.fetch('/login/verify')).headers.get('location')).toBe('/login'); // the half-session ended

      const again = agentFor();
      await postPassword(again, user.username, PASSWORD);
      expect((await postSecondStep(again, next)).status).toBe(401);
      expect((await again.fetch('/dashboard')).status).toBe(303);

      const session = await ts.services.storage.db.selectFrom('sessions').select('amr').where('user_id', '=', user.userId).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
      expect(session.amr).toBe('pwd otp mfa');
      const types = await events(user.userId);
      expect(types).toContainEqual({ type: 'second_factor.added', detail: { factor: 'totp' } });
      expect(types).toContainEqual({ type: 'sign_in.succeeded', detail: { amr: 'pwd otp mfa', factor: 'totp' } });
      expect(types).toContainEqual({ type: 'sign_in.failed', detail: { factor: 'totp' } });
      const activity = await (await browser.fetch('/dashboard/activity')).text();
      expect(activity).toContain('Second factor added: authenticator app');
      expect(activity).toContain('Signed in with an authenticator app code');
      expect(activity).toContain('A sign-in failed: wrong authentication code');
    });

    it('takes a recovery code once, and records its use', async () => {
      const user = await seedUser(ts);
      const { codes } = await enrollTotp(await signIn(ts, user.username));
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      expect((await postSecondStep(browser, codes[3]!.toUpperCase())).status).toBe(303);
      expect((await browser.fetch('/dashboard')).status).toBe(200);

      const other = agentFor();
      await postPassword(other, user.username, PASSWORD);
      const refused = await postSecondStep(other, codes[3]!);
      expect(refused.status).toBe(401);
      expect(await refused.text()).toContain('That code is not valid');
      expect(await ts.services.secondFactors.recoveryCodesLeft(user.userId)).toBe(9);
      expect(await events(user.userId)).toContainEqual({ type: 'recovery_code.used', detail: { left: 9 } });
      expect(await events(user.userId)).toContainEqual({ type: 'sign_in.succeeded', detail: { amr: 'pwd otp mfa', factor: 'recovery_code' } });
      // The refused second use is a failed sign-in with a recovery code, not with the app's code.
      expect(await events(user.userId)).toContainEqual({ type: 'sign_in.failed', detail: { factor: 'recovery_code' } });
      expect(await (await browser.fetch('/dashboard/activity')).text()).toContain('A sign-in failed: wrong recovery code');
    });

    it('a password change keeps how the session was established: signed in with two factors, the new session has both', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      expect((await postSecondStep(browser, totpCode(secret, 1))).status).toBe(303);
      const signedIn = await ts.services.storage.db.selectFrom('sessions').select('created_at').where('user_id', '=', user.userId).where('amr', '=', 'pwd otp mfa').executeTakeFirstOrThrow();
      const account = await (await browser.fetch('/dashboard/account')).text();
      const changed = await browser.fetch('/dashboard/account/password', { form: { _csrf: hiddenField(account, '_csrf'), current_password: PASSWORD, new_password: 'another long passphrase' } });
      expect(changed.status).toBe(200);
      expect((await browser.fetch('/dashboard')).status).toBe(200);
      // Every other session ended; this browser's new one is still "pwd otp mfa", so its ID tokens keep the multi-factor acr.
      // At the sign-in time those factors were given (auth_time, max_age): the password alone, now, is not two factors now.
      const sessions = await ts.services.storage.db.selectFrom('sessions').select(['amr', 'created_at', 'confirmed_at']).where('user_id', '=', user.userId).execute();
      expect(sessions).toEqual([{ amr: 'pwd otp mfa', created_at: signedIn.created_at, confirmed_at: expect.anything() }]);
    });

    it('ends the half-session at the fifth wrong code: the sixth try, even right, goes back to the password', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      const wrong = totpCode(secret, 10);
      for (let i = 1; i <= 5; i++) {
        await waitOutCodeDelay(user.userId);
        const refused = await postSecondStep(browser, wrong);
        expect(refused.status).toBe(401);
        if (i === 5) expect(await refused.text()).toContain('sign in with your password again');
      }
      await waitOutCodeDelay(user.userId);
      expect((await browser.fetch('/login/verify')).headers.get('location')).toBe('/login');
      const sixth = await browser.fetch('/login/verify', { form: { _csrf: hiddenField(await (await browser.fetch('/login')).text(), '_csrf'), code: totpCode(secret, 1) } });
      expect(sixth.status).toBe(303);
      expect(sixth.headers.get('location')).toBe('/login');
      expect((await browser.fetch('/dashboard')).status).toBe(303);
      expect(await events(user.userId)).toContainEqual({ type: 'sign_in.throttled', detail: { factor: 'totp', failures: 3 } });
      // The password again: a new half-session, and the right code passes.
      await waitOutCodeDelay(user.userId);
      await postPassword(browser, user.username, PASSWORD);
      expect((await postSecondStep(browser, totpCode(secret, 1))).status).toBe(303);
      expect((await browser.fetch('/dashboard')).status).toBe(200);
    });

    it('checks at most one code per throttle state of 20 wrong ones sent together, never more than the half-session allows', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      const page = await (await browser.fetch('/login/verify')).text();
      const wrong = totpCode(secret, 10);
      const statuses = await Promise.all(Array.from({ length: 20 }, () => browser.fetch('/login/verify', { form: { _csrf: hiddenField(page, '_csrf'), code: wrong } }).then((r) => r.status)));
      const checked = statuses.filter((s) => s === 401).length;
      expect(checked).toBeGreaterThanOrEqual(1);
      // One try per throttle state passes (the free ones at once, then one per delay), never past the half-session's five;
      // the rest wait (429) or find the half-session gone (303).
      expect(checked).toBeLessThanOrEqual(5);
      expect(statuses.filter((s) => s !== 401).every((s) => s === 429 || s === 303)).toBe(true);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(10);
      const failures = await ts.services.storage.db.selectFrom('login_failures').select('failures').where('username_key', '=', `otp:${user.userId}`).executeTakeFirstOrThrow();
      expect(failures.failures).toBeGreaterThanOrEqual(checked);
    });

    it('refuses a right code with 429 while the delay is in force, and takes it after', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      const wrong = totpCode(secret, 10);
      for (let i = 0; i < 4; i++) {
        await waitOutCodeDelay(user.userId);
        expect((await postSecondStep(browser, wrong)).status).toBe(401);
      }
      // Four failures: 500 ms before the next try is checked at all.
      const right = totpCode(secret, 1);
      const refused = await postSecondStep(browser, right);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.text()).toContain('Too many wrong codes; wait 1 second');
      expect((await browser.fetch('/dashboard')).status).toBe(303);
      await waitOutCodeDelay(user.userId);
      const passed = await postSecondStep(browser, right);
      expect(passed.status).toBe(303);
      expect(passed.headers.get('location')).toBe('/dashboard');
    });

    it('does not let a username with ":" count against a user\'s codes (usernames never have one)', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      for (const name of [`otp:${user.userId}`, `OTP:${user.userId}`]) {
        for (let i = 0; i < 6; i++) expect((await postPassword(agentFor(), name, 'guess')).status).toBe(401);
      }
      expect(await ts.services.throttle.delayForKey(`otp:${user.userId}`)).toBe(0);
      const keys = (await ts.services.storage.db.selectFrom('login_failures').select('username_key').execute()).map((r) => r.username_key);
      expect(keys).not.toContain(`otp:${user.userId}`);
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      expect((await postSecondStep(browser, totpCode(secret, 1))).status).toBe(303);
    });

    it('turns off with a current code or the password, not with anything else', async () => {
      const user = await seedUser(ts);
      const agent = await signIn(ts, user.username);
      const { secret, used } = await enrollTotp(agent);
      const turnOff = async (proof: string) => {
        const page = await (await agent.fetch('/dashboard/account')).text();
        expect(page).toContain('<label for="turn_off_proof">Current code or password</label>');
        return agent.fetch('/dashboard/account/two-factor/off', { form: { _csrf: hiddenField(page, '_csrf'), proof } });
      };
      expect((await turnOff('not my password')).status).toBe(400);
      expect((await turnOff(used)).status).toBe(400); // it confirmed the set-up
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual(['totp']);
      // Refused tries are the owner's to see, and not as failed sign-ins.
      const refusals = (await events(user.userId)).filter((e) => e.type === 'second_factor.remove_refused' || e.type === 'sign_in.failed');
      expect(refusals).toEqual([
        { type: 'second_factor.remove_refused', detail: { factor: 'password' } },
        { type: 'second_factor.remove_refused', detail: { factor: 'totp' } },
      ]);
      expect((await turnOff(totpCode(secret, 1))).status).toBe(303);
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual([]);
      expect(await ts.services.secondFactors.recoveryCodesLeft(user.userId)).toBe(0);
      expect(await events(user.userId)).toContainEqual({ type: 'second_factor.removed', detail: { factor: 'totp' } });
      // Off: the password alone signs in again.
      expect((await postPassword(agentFor(), user.username, PASSWORD)).headers.get('location')).toBe('/dashboard');

      // And with the password.
      await enrollTotp(agent);
      expect((await turnOff(PASSWORD)).status).toBe(303);
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual([]);
    });

    it('refuses the second step without its CSRF token', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const browser = agentFor();
      await postPassword(browser, user.username, PASSWORD);
      expect((await browser.fetch('/login/verify', { form: { code: totpCode(secret, 1) } })).status).toBe(403);
    });
  });
});

describe.each(DIALECTS)('MFA=required (%s)', (dialect) => {
  let ts: TestServer;
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { MFA: 'required', RATE_LIMIT_LOGIN: '0' });
  });
  afterAll(async () => ts?.close());

  it.skipIf(!dialectAvailable(dialect))('sends a user without a factor to set one up before any session, then signs in with two', async () => {
    const user = await seedUser(ts);
    const browser = new Agent(ts.url, ts.config.publicUrl);
    const password = await postPassword(browser, user.username, PASSWORD);
    expect(password.headers.get('location')).toBe('/login/two-factor');
    expect((await browser.fetch('/dashboard')).status).toBe(303);
    const setup = await (await browser.fetch('/login/two-factor')).text();
    expect(setup).toContain('<svg');
    const secret = shownSecret(setup);
    const done = await browser.fetch('/login/two-factor', { form: { _csrf: hiddenField(setup, '_csrf'), code: totpCode(secret) } });
    expect(done.status).toBe(200);
    expect(shownRecoveryCodes(await done.text())).toHaveLength(10);
    expect((await browser.fetch('/dashboard')).status).toBe(200);

    // The next sign-in asks for the code.
    const next = new Agent(ts.url, ts.config.publicUrl);
    expect((await postPassword(next, user.username, PASSWORD)).headers.get('location')).toBe('/login/verify');
    expect((await postSecondStep(next, totpCode(secret, 1))).status).toBe(303);
  });

  it.skipIf(!dialectAvailable(dialect))('a set-up begun before the user had a factor asks for that factor instead, once one exists', async () => {
    const user = await seedUser(ts);
    // Two browsers (someone with the password alone) are at the set-up page; the user sets the app up in a third.
    const atSetup = async () => {
      const early = new Agent(ts.url, ts.config.publicUrl);
      expect((await postPassword(early, user.username, PASSWORD)).headers.get('location')).toBe('/login/two-factor');
      return { early, page: await (await early.fetch('/login/two-factor')).text() };
    };
    const first = await atSetup();
    const second = await atSetup();
    const browser = new Agent(ts.url, ts.config.publicUrl);
    await postPassword(browser, user.username, PASSWORD);
    const setup = await (await browser.fetch('/login/two-factor')).text();
    const secret = shownSecret(setup);
    expect((await browser.fetch('/login/two-factor', { form: { _csrf: hiddenField(setup, '_csrf'), code: totpCode(secret) } })).status).toBe(200);
    // Neither can set up a factor of its own any more (an app's code, a passkey): the second step instead.
    const own = await first.early.fetch('/login/two-factor', { form: { _csrf: hiddenField(first.page, '_csrf'), code: '123456' } });
    expect(own.status).toBe(303);
    expect(own.headers.get('location')).toBe('/login/verify');
    const options = await second.early.fetch('/login/two-factor/passkey/options', { form: { _csrf: hiddenField(second.page, '_csrf') } });
    expect(options.status).toBe(409);
    for (const { early } of [first, second]) {
      expect((await early.fetch('/dashboard')).status).toBe(303);
      expect((await early.fetch('/login/verify')).status).toBe(200);
    }
  });
});

/** RATE_LIMIT_LOGIN covers the second step and the turn-off proof: wrong codes are failed sign-ins of the address. */
describe.each(DIALECTS)('the per-IP sign-in limit at the second step (%s)', (dialect) => {
  let ts: TestServer;
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_LOGIN: '4', TRUST_PROXY: '127.0.0.1' });
  });
  afterAll(async () => ts?.close());

  it.skipIf(!dialectAvailable(dialect))('refuses /login/verify and the turn-off past the address\'s failures (429), before checking', async () => {
    const user = await seedUser(ts);
    const headers = { 'x-forwarded-for': `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}` };
    const post = async (agent: Agent, path: string, page: string, form: Record<string, string>) =>
      agent.fetch(path, { headers, form: { _csrf: hiddenField(await (await agent.fetch(page, { headers })).text(), '_csrf'), ...form } });
    const account = new Agent(ts.url, ts.config.publicUrl);
    expect((await post(account, '/login', '/login', { username: user.username, password: PASSWORD })).status).toBe(303);
    const { secret } = await enrollTotp(account);

    const browser = new Agent(ts.url, ts.config.publicUrl);
    expect((await post(browser, '/login', '/login', { username: user.username, password: PASSWORD })).status).toBe(303);
    const wrong = totpCode(secret, 10);
    for (let i = 0; i < 4; i++) {
      const delay = await ts.services.throttle.delayForKey(`otp:${user.userId}`);
      if (delay > 0) await sleep(delay + 20);
      expect((await post(browser, '/login/verify', '/login/verify', { code: wrong })).status).toBe(401);
    }
    await sleep(1_100);
    const refused = await post(browser, '/login/verify', '/login/verify', { code: totpCode(secret, 1) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Refused before the code was checked: the half-session still has its fifth try.
    expect((await ts.services.storage.db.selectFrom('pending_sign_ins').select('failures').where('user_id', '=', user.userId).executeTakeFirstOrThrow()).failures).toBe(4);
    // The turn-off's proof is refused too, even the right password.
    expect((await post(account, '/dashboard/account/two-factor/off', '/dashboard/account', { proof: PASSWORD })).status).toBe(429);
    expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual(['totp']);
  });
});
