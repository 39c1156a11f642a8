import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordStamp } from '../../src/accounts/email-links.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, hiddenField, obtainCode, signIn, tokenRequest, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, type Seeded, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { startEventsBed, type EventsBed, type Receiver } from '../helpers/webhook-receiver.js';

const REDIRECT = 'https://app.example.com/callback';
const SIGNED_OUT = 'https://app.example.com/signed-out';

/**
 * SPEC §13: back-channel logout on the session endings webhooks.test.ts does not walk through: RP-initiated
 * end_session (SPEC §7) and a password reset (SPEC §11). Each app that got an ID token in the ending session
 * receives a logout_token that verifies with jose against the JWKS and names the session's sid.
 */
describe.each(DIALECTS)('back-channel logout on end_session and password reset (%s)', (dialect) => {
  let bed: EventsBed;
  let ts: TestServer;
  let receiver: Receiver;
  let developer: Seeded;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ({ ts, receiver, developer } = bed = await startEventsBed(dialect));
  });
  afterAll(async () => bed?.close());

  const logoutsTo = (name: string) => receiver.received.filter((r) => r.path === `/logout/${name}`);

  /** An app with a back-channel logout URI; a user signed in (one session) who signs in to it with openid. */
  const signedInRp = async (name: string) => {
    const reply = await call('POST', `${ts.api}/oauth/clients`, {
      key: developer.key,
      json: { name, redirectUris: [REDIRECT], postLogoutRedirectUris: [SIGNED_OUT], scopes: ['profile'], backchannelLogoutUri: `${receiver.origin}/logout/${name}` },
    });
    expect(reply.status).toBe(201);
    const client: TestClient = { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: REDIRECT, scopes: ['profile'] };
    const user = await seedUser(ts);
    const agent = await signIn(ts, user.username);
    const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'openid profile' });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(tokens.status).toBe(200);
    const { payload } = await jwtVerify(tokens.json.id_token, jwks(), { issuer: ts.config.publicUrl, audience: client.clientId });
    expect(payload.sid).toMatch(/^sid_/);
    return { client, user, agent, idToken: tokens.json.id_token as string, sid: payload.sid as string };
  };

  const jwks = () => createRemoteJWKSet(new URL(`${ts.url}/.well-known/jwks.json`));

  /** The one logout token the app got, verified with jose against the JWKS. */
  const verifiedLogout = async (name: string, clientId: string) => {
    await until(() => logoutsTo(name).length > 0, { message: `the logout token to ${name}` });
    const sent = logoutsTo(name);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const token = new URLSearchParams(sent[0]!.body).get('logout_token')!;
    return (await jwtVerify(token, jwks(), { issuer: ts.config.publicUrl, audience: clientId, typ: 'logout+jwt' })).payload;
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('sends a logout token when the app ends the session with end_session', async () => {
      const name = `rp-initiated-${dialect}`;
      const { client, user, agent, idToken, sid } = await signedInRp(name);
      const params = { id_token_hint: idToken, client_id: client.clientId, post_logout_redirect_uri: SIGNED_OUT, state: 'bye' };
      const page = await (await agent.fetch(`${ts.api}/oauth/end_session?${new URLSearchParams(params)}`)).text();
      expect(page).toContain('Sign out of Serika?');
      // Asking is not ending: nothing is sent until the user confirms.
      expect(logoutsTo(name)).toHaveLength(0);
      const out = await agent.fetch(`${ts.api}/oauth/end_session`, { form: { _csrf: hiddenField(page, '_csrf'), ...params, confirm: 'yes' } });
      expect(out.status).toBe(303);
      expect(out.headers.get('location')).toBe(`${SIGNED_OUT}?state=bye`);
      const payload = await verifiedLogout(name, client.clientId);
      expect(payload).toMatchObject({ sub: user.userId, sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
      expect(payload.nonce).toBeUndefined();
    });

    it('sends a logout token when the user resets their password', async () => {
      const name = `reset-${dialect}`;
      const { client, user, sid } = await signedInRp(name);
      // A live reset link, as the "forgot password" mail carries it.
      const { password_hash } = await ts.services.storage.db.selectFrom('users').select('password_hash').where('id', '=', user.userId).executeTakeFirstOrThrow();
      const token = await ts.services.emailLinks.create(ts.services.storage.db, { purpose: 'reset', userId: user.userId, email: 'reset@example.com', passwordStamp: passwordStamp(password_hash) });
      const browser = new Agent(ts.url, ts.config.publicUrl);
      const form = await (await browser.fetch('/password/forgot')).text();
      const reset = await browser.fetch('/password/reset', { form: { _csrf: hiddenField(form, '_csrf'), token, password: 'a brand new passphrase' } });
      expect(reset.status).toBeLessThan(400);
      expect(await ts.services.storage.db.selectFrom('sessions').select('sid').where('user_id', '=', user.userId).execute()).toEqual([]);
      const payload = await verifiedLogout(name, client.clientId);
      expect(payload).toMatchObject({ sub: user.userId, sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    });
  });
});
