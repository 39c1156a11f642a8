import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Passkeys, relyingPartyOf } from '../../src/accounts/second-factors/passkeys.js';
import { WebAuthnChallenges } from '../../src/accounts/second-factors/webauthn-challenges.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, hiddenField, signIn } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { SoftCredential } from '../helpers/soft-authenticator.js';
import { enrollTotp, postPassword } from '../helpers/two-factor.js';

const PUBLIC = 'https://id.serika.test';
const RP = { id: 'id.serika.test', origin: PUBLIC };

describe.each(DIALECTS)('passkeys: WebAuthn verification rules (%s)', (dialect) => {
  let ts: TestServer;
  let clock = Date.now();
  let passkeys: Passkeys;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_LOGIN: '0' });
    const db = ts.services.storage.db;
    passkeys = new Passkeys(db, new WebAuthnChallenges(db, () => clock), relyingPartyOf(PUBLIC), ts.services.audit, () => clock);
  });
  afterAll(async () => ts?.close());

  /** A user with one passkey registered through the service, and the credential that answers for it. */
  const withPasskey = async (options: { counter?: number } = {}) => {
    const user = await seedUser(ts);
    const credential = new SoftCredential(RP, user.userId, options);
    const created = await passkeys.registrationOptions({ id: user.userId, username: user.username }, `session:${user.userId}`);
    expect(created.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    expect(created.rp.id).toBe(RP.id);
    const added = await passkeys.register(user.userId, 'Laptop', credential.register(created.challenge), `session:${user.userId}`);
    expect(added.ok).toBe(true);
    return { user, credential };
  };
  const challengeFor = async (binding: string, userId: string | null = null) => (await passkeys.authenticationOptions(userId ? 'second_step' : 'sign_in', { binding, userId })).challenge;
  const signInWith = (answer: string, binding: string) => passkeys.authenticate('sign_in', answer, { binding, userId: null });
  const storedCounter = async (id: Uint8Array) =>
    Number((await ts.services.storage.db.selectFrom('webauthn_credentials').select('counter').where('id', '=', Buffer.from(id).toString('base64url')).executeTakeFirstOrThrow()).counter);

  describe.skipIf(!dialectAvailable(dialect))('the service', () => {
    it('registers a discoverable credential and signs in with it, naming its user, the counter moved on', async () => {
      const { user, credential } = await withPasskey();
      const result = await signInWith(credential.authenticate(await challengeFor('b1')), 'b1');
      expect(result).toEqual({ ok: true, value: { userId: user.userId, credentialId: Buffer.from(credential.id).toString('base64url') } });
      expect(await storedCounter(credential.id)).toBe(2);
      const [listed] = await passkeys.list(user.userId);
      expect(listed).toMatchObject({ name: 'Laptop', lastUsedAt: clock });
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual(['passkey']);
    });

    it('refuses a replayed answer: its challenge was taken by the first', async () => {
      const { credential } = await withPasskey();
      const answer = credential.authenticate(await challengeFor('b2'));
      expect((await signInWith(answer, 'b2')).ok).toBe(true);
      expect(await signInWith(answer, 'b2')).toMatchObject({ ok: false, refused: 'challenge' });
    });

    it('refuses a challenge given to another browser, one made for another purpose, and an expired one', async () => {
      const { user, credential } = await withPasskey();
      expect(await signInWith(credential.authenticate(await challengeFor('browser-a')), 'browser-b')).toMatchObject({ ok: false, refused: 'challenge' });
      const forSecondStep = await challengeFor('b3', user.userId);
      expect(await signInWith(credential.authenticate(forSecondStep), 'b3')).toMatchObject({ ok: false, refused: 'challenge' });
      const old = await challengeFor('b3');
      clock += 5 * 60_000 + 1;
      expect(await signInWith(credential.authenticate(old), 'b3')).toMatchObject({ ok: false, refused: 'challenge' });
      // The control: a fresh challenge, same credential, passes.
      expect((await signInWith(credential.authenticate(await challengeFor('b3')), 'b3')).ok).toBe(true);
    });

    it('refuses a signature counter that did not move on (a cloned authenticator), and keeps the stored one', async () => {
      const { user, credential } = await withPasskey({ counter: 5 });
      expect((await signInWith(credential.authenticate(await challengeFor('b4'), { counter: 9 }), 'b4')).ok).toBe(true);
      expect(await signInWith(credential.authenticate(await challengeFor('b4'), { counter: 7 }), 'b4')).toMatchObject({ ok: false, refused: 'verification', userId: user.userId });
      expect(await signInWith(credential.authenticate(await challengeFor('b4'), { counter: 9 }), 'b4')).toMatchObject({ ok: false, refused: 'verification' });
      expect(await storedCounter(credential.id)).toBe(9);
      expect((await signInWith(credential.authenticate(await challengeFor('b4'), { counter: 10 }), 'b4')).ok).toBe(true);
    });

    it('accepts a counter that stays 0 (an authenticator without one, as synced passkeys are)', async () => {
      const { credential } = await withPasskey({ counter: 0 });
      expect((await signInWith(credential.authenticate(await challengeFor('b5')), 'b5')).ok).toBe(true);
      expect((await signInWith(credential.authenticate(await challengeFor('b5')), 'b5')).ok).toBe(true);
      expect(await storedCounter(credential.id)).toBe(0);
    });

    it('refuses an answer from another origin, for another RP ID, or without user verification', async () => {
      const { credential } = await withPasskey();
      for (const wrong of [{ origin: 'https://evil.example' }, { origin: 'http://id.serika.test' }, { rpId: 'evil.example' }, { userVerified: false }]) {
        expect(await signInWith(credential.authenticate(await challengeFor('b6'), wrong), 'b6')).toMatchObject({ ok: false, refused: 'verification' });
      }
      expect((await signInWith(credential.authenticate(await challengeFor('b6')), 'b6')).ok).toBe(true);
    });

    it('refuses to register from another origin, without user verification, or on a replayed challenge', async () => {
      const user = await seedUser(ts);
      const options = () => passkeys.registrationOptions({ id: user.userId, username: user.username }, 'b7');
      for (const wrong of [{ origin: 'https://evil.example' }, { userVerified: false }]) {
        const credential = new SoftCredential(RP, user.userId);
        expect(await passkeys.register(user.userId, 'x', credential.register((await options()).challenge, wrong), 'b7')).toMatchObject({ ok: false, refused: 'verification' });
      }
      const credential = new SoftCredential(RP, user.userId);
      const answer = credential.register((await options()).challenge);
      expect(await passkeys.register(user.userId, 'Phone', answer, 'other-session')).toMatchObject({ ok: false, refused: 'challenge' });
      expect(await passkeys.list(user.userId)).toEqual([]);
    });

    it('as a second step, takes only the signing-in user own passkeys', async () => {
      const { user } = await withPasskey();
      const other = await withPasskey();
      const result = await passkeys.authenticate('second_step', other.credential.authenticate(await challengeFor('b8', user.userId)), { binding: 'b8', userId: user.userId });
      expect(result).toMatchObject({ ok: false, refused: 'credential' });
    });

    it('removes a passkey of its own user only, recording it', async () => {
      const { user, credential } = await withPasskey();
      const id = Buffer.from(credential.id).toString('base64url');
      const stranger = await seedUser(ts);
      expect(await passkeys.remove(stranger.userId, id)).toBe(false);
      expect(await passkeys.remove(user.userId, id)).toBe(true);
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual([]);
      const removed = await ts.services.storage.db.selectFrom('audit_events').select('detail').where('user_id', '=', user.userId).where('type', '=', 'second_factor.removed').executeTakeFirstOrThrow();
      expect(JSON.parse(removed.detail!)).toEqual({ factor: 'passkey', name: 'Laptop' });
    });
  });

  it.skipIf(!dialectAvailable(dialect))('warns at start when PUBLIC_URL is an IP address (no passkeys there), not for a host name', async () => {
    const started = async (publicUrl: string) => {
      const lines: string[] = [];
      const logStream = new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) });
      const server = await startTestServer(dialect, { PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn' }, { logStream });
      await server.close();
      return lines.join('');
    };
    expect(await started('http://127.0.0.1:3999')).toContain('PUBLIC_URL names an IP address: browsers refuse passkeys there');
    expect(await started('http://[::1]:3999')).toContain('PUBLIC_URL names an IP address');
    expect(await started('http://localhost:3999')).not.toContain('passkeys');
  });

  describe.skipIf(!dialectAvailable(dialect))('under RATE_LIMIT_LOGIN', () => {
    let limited: TestServer;
    beforeAll(async () => {
      limited = await startTestServer(dialect, { RATE_LIMIT_LOGIN: '2' });
    });
    afterAll(async () => limited?.close());

    it('counts a refused passkey as a failed sign-in of the address, not a right one; limits the options per IP', async () => {
      const user = await seedUser(limited);
      const credential = new SoftCredential(relyingPartyOf(limited.config.publicUrl), user.userId);
      const created = await limited.services.passkeys.registrationOptions({ id: user.userId, username: user.username }, 'setup');
      expect((await limited.services.passkeys.register(user.userId, 'Key', credential.register(created.challenge), 'setup')).ok).toBe(true);
      // Each try from a browser of its own (a sign-in changes the CSRF binding), all from one address.
      let optionsAsked = 0;
      const browser = async () => {
        const agent = new Agent(limited.url, limited.config.publicUrl);
        return { agent, csrf: hiddenField(await (await agent.fetch('/login')).text(), '_csrf') };
      };
      const options = async ({ agent, csrf }: { agent: Agent; csrf: string }) => {
        optionsAsked++;
        return agent.fetch('/login/passkey/options', { form: { _csrf: csrf } });
      };
      const post = async (answer: (b: { agent: Agent; csrf: string }) => Promise<string>) => {
        const b = await browser();
        return (await b.agent.fetch('/login/passkey', { form: { _csrf: b.csrf, response: await answer(b) } })).status;
      };
      const right = async (b: { agent: Agent; csrf: string }) => credential.authenticate(((await (await options(b)).json()) as { challenge: string }).challenge);
      // Two right ones are not counted; two refused ones are; then the address waits, even with a right answer.
      expect(await post(right)).toBe(303);
      expect(await post(right)).toBe(303);
      expect(await post(async () => '{}')).toBe(401);
      expect(await post(async () => 'not json')).toBe(401);
      expect(await post(right)).toBe(429);
      // The options: three times RATE_LIMIT_LOGIN a minute.
      const b = await browser();
      while (optionsAsked < 6) expect((await options(b)).status).toBe(200);
      expect((await options(b)).status).toBe(429);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('over HTTP', () => {
    const rpOf = () => relyingPartyOf(ts.config.publicUrl);

    /** A user with a passkey added on the Account page, from a browser signed in with the password. */
    const enrolled = async () => {
      const user = await seedUser(ts);
      const agent = await signIn(ts, user.username);
      const account = await (await agent.fetch('/dashboard/account')).text();
      const csrf = hiddenField(account, '_csrf');
      // A fresh session gives a name only (SPEC §11); an older one is asked more (recent-auth.test.ts).
      const options = (await (await agent.fetch('/dashboard/account/passkeys/options', { form: { _csrf: csrf } })).json()) as { challenge: string };
      const credential = new SoftCredential(rpOf(), user.userId);
      const added = await agent.fetch('/dashboard/account/passkeys', { form: { _csrf: csrf, name: 'Key', response: credential.register(options.challenge) } });
      expect(added.status).toBe(303);
      expect(added.headers.get('location')).toContain('passkeys=first');
      return { user, credential };
    };
    const loginPage = async (agent: Agent, query = '') => hiddenField(await (await agent.fetch(`/login${query}`)).text(), '_csrf');

    it('signs in with the passkey alone at /login/passkey, back to return_to; a replay and another browser are refused', async () => {
      const { user, credential } = await enrolled();
      const agent = new Agent(ts.url, ts.config.publicUrl);
      const csrf = await loginPage(agent);
      const options = (await (await agent.fetch('/login/passkey/options', { form: { _csrf: csrf } })).json()) as { challenge: string; allowCredentials?: unknown[]; userVerification: string };
      expect(options.userVerification).toBe('required');
      expect(options.allowCredentials ?? []).toEqual([]);
      const answer = credential.authenticate(options.challenge);

      // Another browser (no sign-in cookie of this ceremony) cannot use the answer.
      const thief = new Agent(ts.url, ts.config.publicUrl);
      const thiefCsrf = await loginPage(thief);
      expect((await thief.fetch('/login/passkey', { form: { _csrf: thiefCsrf, response: answer } })).status).toBe(401);

      const signedIn = await agent.fetch('/login/passkey', { form: { _csrf: csrf, response: credential.authenticate(((await (await agent.fetch('/login/passkey/options', { form: { _csrf: csrf } })).json()) as { challenge: string }).challenge), return_to: '/dashboard/keys' } });
      expect(signedIn.status).toBe(303);
      expect(signedIn.headers.get('location')).toBe('/dashboard/keys');
      expect((await agent.fetch('/dashboard/account')).status).toBe(200);
      const session = await ts.services.storage.db.selectFrom('sessions').select('amr').where('user_id', '=', user.userId).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
      expect(session.amr).toBe('pop mfa');

      const again = new Agent(ts.url, ts.config.publicUrl);
      const againCsrf = await loginPage(again);
      await again.fetch('/login/passkey/options', { form: { _csrf: againCsrf } });
      const replayed = await again.fetch('/login/passkey', { form: { _csrf: againCsrf, response: answer } });
      expect(replayed.status).toBe(401);
      expect(await replayed.text()).toContain('That passkey could not sign you in');
    });

    it('refuses a suspended user their passkey sign-in, saying why (SPEC §12)', async () => {
      const { user, credential } = await enrolled();
      expect(await ts.services.userAdmin.suspend(user.userId, null)).toBe(true);
      const agent = new Agent(ts.url, ts.config.publicUrl);
      const csrf = await loginPage(agent);
      const options = (await (await agent.fetch('/login/passkey/options', { form: { _csrf: csrf } })).json()) as { challenge: string };
      const refused = await agent.fetch('/login/passkey', { form: { _csrf: csrf, response: credential.authenticate(options.challenge) } });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('This account is suspended');
      expect((await agent.fetch('/dashboard')).status).toBe(303);
    });

    it('a passkey alone is a second factor: the password asks for it, and it passes the step', async () => {
      const { user, credential } = await enrolled();
      const agent = new Agent(ts.url, ts.config.publicUrl);
      const csrf = await loginPage(agent);
      const afterPassword = await agent.fetch('/login', { form: { _csrf: csrf, username: user.username, password: 'correct horse battery staple' } });
      expect(afterPassword.headers.get('location')).toBe('/login/verify');
      const verify = await (await agent.fetch('/login/verify')).text();
      expect(verify).toContain('Confirm it is you with your passkey');
      expect(verify).not.toContain('Authentication code');
      const stepCsrf = hiddenField(verify, '_csrf');
      const options = (await (await agent.fetch('/login/verify/passkey/options', { form: { _csrf: stepCsrf } })).json()) as { challenge: string; allowCredentials: Array<{ id: string }> };
      expect(options.allowCredentials.map((c) => c.id)).toEqual([Buffer.from(credential.id).toString('base64url')]);
      const passed = await agent.fetch('/login/verify/passkey', { form: { _csrf: stepCsrf, response: credential.authenticate(options.challenge) } });
      expect(passed.status).toBe(303);
      expect(passed.headers.get('location')).toBe('/dashboard');
      const session = await ts.services.storage.db.selectFrom('sessions').select('amr').where('user_id', '=', user.userId).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
      expect(session.amr).toBe('pwd pop mfa');

      // With the authenticator app too, the step offers both: the code's form and the passkey's.
      await enrollTotp(agent);
      const both = new Agent(ts.url, ts.config.publicUrl);
      expect((await postPassword(both, user.username, 'correct horse battery staple')).headers.get('location')).toBe('/login/verify');
      const page = await (await both.fetch('/login/verify')).text();
      expect(page).toContain('Authentication code');
      expect(page).toContain('Verify with a passkey');
      expect(await ts.services.secondFactors.factorsOf(user.userId)).toEqual(['totp', 'passkey']);
    });
  });
});
