import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { basic, form, hiddenField, tokenRequest, userWithSession, type Agent } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** SPEC §9, RFC 8628: the device grant with oauth4webapi as the device, the user side over HTTP. */
describe.each(DIALECTS)('device authorization grant (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let as: oauth.AuthorizationServer;
  let cli: { clientId: string };
  let tv: { clientId: string; clientSecret: string };
  let plain: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    ({ user: owner, agent } = await userWithSession(ts, `device_${dialect}`));
    const make = async (extra: Record<string, unknown>) =>
      (await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name: 'Terminal Chat', redirectUris: ['http://127.0.0.1/cb'], scopes: ['profile', 'generations'], ...extra } })).json;
    cli = await make({ public: true, grantTypes: ['authorization_code', 'refresh_token', DEVICE] });
    tv = await make({ name: 'Living Room TV', grantTypes: [DEVICE] });
    plain = await make({ name: 'Web Only' });
    const issuer = new URL(ts.config.publicUrl);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(async () => ts?.close());

  const start = async (scope = 'profile generations', client: { clientId: string; clientSecret?: string } = cli) => {
    const auth = client.clientSecret ? oauth.ClientSecretBasic(client.clientSecret) : oauth.None();
    const response = await oauth.deviceAuthorizationRequest(as, { client_id: client.clientId }, auth, { scope }, insecure);
    return oauth.processDeviceAuthorizationResponse(as, { client_id: client.clientId }, response);
  };
  const poll = async (deviceCode: string, client: { clientId: string; clientSecret?: string } = cli) => {
    const auth = client.clientSecret ? oauth.ClientSecretBasic(client.clientSecret) : oauth.None();
    const response = await oauth.deviceCodeGrantRequest(as, { client_id: client.clientId }, auth, deviceCode, insecure);
    return oauth.processDeviceCodeResponse(as, { client_id: client.clientId }, response).catch((e: unknown) => e as oauth.ResponseBodyError);
  };
  /** The user's side: the confirmation page for a code, then the decision. */
  const decide = async (userCode: string, decision: 'allow' | 'deny', who: Agent = agent) => {
    const page = await who.fetch(`/device?user_code=${encodeURIComponent(userCode)}`);
    const text = await page.text();
    expect(page.status, text).toBe(200);
    return who.fetch('/device/decision', { form: { _csrf: hiddenField(text, '_csrf'), user_code: hiddenField(text, 'user_code'), confirmation: hiddenField(text, 'confirmation'), decision } });
  };
  /** Lets the interval pass (the injected clock of the database row). */
  const elapse = (deviceCode: string, seconds: number) =>
    ts.services.storage.db
      .updateTable('oauth_device_codes')
      .set((eb) => ({ last_polled_at: eb('last_polled_at', '-', seconds * 1000), created_at: eb('created_at', '-', seconds * 1000), expires_at: eb('expires_at', '-', seconds * 1000) }))
      .where('device_code_hash', '=', credentialKey(deviceCode))
      .execute();

  describe.skipIf(!dialectAvailable(dialect))('the flow', () => {
    it('answers the device authorization request as RFC 8628 §3.2 and SPEC §9 say', async () => {
      const started = await start();
      expect(started.device_code).toMatch(/^serika_dc_/);
      expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      expect(started.verification_uri).toBe(`${ts.config.publicUrl}/device`);
      expect(started.verification_uri_complete).toBe(`${ts.config.publicUrl}/device?user_code=${started.user_code}`);
      expect(started.expires_in).toBe(600);
      expect(started.interval).toBe(5);
      const metadata = (await call('GET', `${ts.url}/.well-known/oauth-authorization-server`)).json;
      expect(metadata.device_authorization_endpoint).toBe(`${ts.api}/oauth/device_authorization`.replace(ts.url, ts.config.publicUrl));
      expect(metadata.grant_types_supported).toContain(DEVICE);
    });

    it('pending, then slow_down for polling sooner than the interval (remembered: +5 s), then tokens once the user allows', async () => {
      const started = await start('openid profile generations');
      expect(((await poll(started.device_code)) as oauth.ResponseBodyError).error).toBe('authorization_pending');
      const fast = (await poll(started.device_code)) as oauth.ResponseBodyError;
      expect(fast.error).toBe('slow_down');
      const row = await ts.services.storage.db.selectFrom('oauth_device_codes').select('interval_s').where('device_code_hash', '=', credentialKey(started.device_code)).executeTakeFirstOrThrow();
      expect(row.interval_s).toBe(10);
      await elapse(started.device_code, 6);
      // 6 s is past the first interval but not the grown one: still slow_down.
      expect(((await poll(started.device_code)) as oauth.ResponseBodyError).error).toBe('slow_down');
      expect((await decide(started.user_code, 'allow')).status).toBe(200);
      await elapse(started.device_code, 30);
      const tokens = (await poll(started.device_code)) as oauth.TokenEndpointResponse;
      expect(tokens.access_token).toMatch(/^serika_at_/);
      expect(tokens.refresh_token).toMatch(/^serika_rt_/);
      expect(tokens.id_token).toBeTruthy();
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json.id).toBe(owner.userId);
      await elapse(started.device_code, 30);
      // Polling after success.
      expect(((await poll(started.device_code)) as oauth.ResponseBodyError).error).toBe('invalid_grant');
      const apps = await (await agent.fetch('/dashboard/apps')).text();
      expect(apps).toMatch(/Terminal Chat.*signed in from a device/);
    });

    it('deny → access_denied; a decided code cannot be decided again', async () => {
      const started = await start('profile', tv);
      expect((await decide(started.user_code, 'deny')).status).toBe(200);
      expect(((await poll(started.device_code, tv)) as oauth.ResponseBodyError).error).toBe('access_denied');
      const again = await agent.fetch(`/device?user_code=${started.user_code}`);
      expect(again.status).toBe(400);
    });

    it('an approved code not yet redeemed dies with the grant the user revokes: access_denied', async () => {
      const started = await start('profile', tv);
      expect((await decide(started.user_code, 'allow')).status).toBe(200);
      expect(await ts.services.grants.revokeAccess(owner.userId, tv.clientId)).toBe(true);
      expect(((await poll(started.device_code, tv)) as oauth.ResponseBodyError).error).toBe('access_denied');
    });

    it('past DEVICE_CODE_TTL → expired_token, and the code is refused on /device', async () => {
      const started = await start();
      await elapse(started.device_code, 601);
      expect(((await poll(started.device_code)) as oauth.ResponseBodyError).error).toBe('expired_token');
      expect((await agent.fetch(`/device?user_code=${started.user_code}`)).status).toBe(400);
    });

    it('a spending limit asked with authorization_details is shown, may be lowered, and is granted (SPEC §10)', async () => {
      const auth = oauth.ClientSecretBasic(tv.clientSecret);
      const response = await oauth.deviceAuthorizationRequest(as, { client_id: tv.clientId }, auth, { scope: 'profile', authorization_details: JSON.stringify([{ type: 'serika_budget', images: 10, period: 'day' }]) }, insecure);
      const started = await oauth.processDeviceAuthorizationResponse(as, { client_id: tv.clientId }, response);
      const page = await agent.fetch(`/device?user_code=${started.user_code}`);
      const text = await page.text();
      expect(text).toContain('Living Room TV asks for a limit of 10 images per day');
      const confirmation = hiddenField(text, 'confirmation');
      await agent.fetch('/device/decision', { form: { _csrf: hiddenField(text, '_csrf'), user_code: hiddenField(text, 'user_code'), confirmation, decision: 'allow', budget: 'limit', budget_images: '4', budget_period: 'day' } });
      const tokens = (await poll(started.device_code, tv)) as oauth.TokenEndpointResponse;
      expect(tokens.authorization_details).toEqual([{ type: 'serika_budget', images: 4, period: 'day' }]);
      // RFC 6749 §5.1: the TV's grantTypes lack refresh_token, so none is issued (the CLI's, which has it, gets one above).
      expect(tokens.refresh_token).toBeUndefined();
      for (const details of ['[{"type":"serika_budget","images":-1}]', '[{"type":"other"}]', `[{"type":"serika_budget","images":1,"pad":"${'x'.repeat(10_000)}"}]`]) {
        const bad = await call('POST', `${ts.api}/oauth/device_authorization`, {
          body: form({ scope: 'profile', authorization_details: details }),
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(tv.clientId, tv.clientSecret) },
        });
        expect(bad.status).toBe(400);
        expect(bad.json.error).toBe('invalid_authorization_details');
      }
    });

    it('20 racing polls after approval → exactly one gets tokens', async () => {
      const started = await start('profile', tv);
      await decide(started.user_code, 'allow');
      const results = await Promise.all(
        Array.from({ length: 20 }, () => tokenRequest(ts, form({ grant_type: DEVICE, device_code: started.device_code }), { authorization: basic(tv.clientId, tv.clientSecret) })),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.every((r) => r.status === 200 || r.status === 400)).toBe(true);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('bad input: the RFC error each, never a 5xx', () => {
    it('codes typed in lower case and with spaces are accepted; unknown, huge and malformed codes are not', async () => {
      const started = await start();
      const typed = started.user_code.toLowerCase().replace('-', ' ');
      const page = await agent.fetch('/device');
      const form1 = await page.text();
      const confirm = await agent.fetch('/device', { form: { _csrf: hiddenField(form1, '_csrf'), user_code: ` ${typed} ` } });
      expect(confirm.status).toBe(200);
      const text = await confirm.text();
      expect(text).toContain('Only continue if you started this yourself on a device you have with you');
      expect(text).toContain(started.user_code);
      expect(text).toMatch(/Started<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC from <span class="mono">/);
      const { agent: other } = await userWithSession(ts);
      for (const code of ['BCDF-GHJK', 'AEIOU123', 'B'.repeat(2000)]) {
        const f = await (await other.fetch('/device')).text();
        const reply = await other.fetch('/device', { form: { _csrf: hiddenField(f, '_csrf'), user_code: code } });
        expect(reply.status).toBe(400);
        expect(await reply.text()).toContain('That code is not valid or has expired');
      }
      // A megabyte of code is more than any page form takes: 413, never a 5xx.
      const f = await (await other.fetch('/device')).text();
      expect((await other.fetch('/device', { form: { _csrf: hiddenField(f, '_csrf'), user_code: 'B'.repeat(1_000_000) } })).status).toBe(413);
    });

    it('5 wrong codes per user per 10 minutes, then a wait with the time shown', async () => {
      const { agent: guesser } = await userWithSession(ts);
      for (let i = 0; i < 5; i++) {
        const f = await (await guesser.fetch('/device')).text();
        expect((await guesser.fetch('/device', { form: { _csrf: hiddenField(f, '_csrf'), user_code: 'BCDF-GHJK' } })).status).toBe(400);
      }
      const started = await start();
      const f = await (await guesser.fetch('/device')).text();
      const locked = await guesser.fetch('/device', { form: { _csrf: hiddenField(f, '_csrf'), user_code: started.user_code } });
      expect(locked.status).toBe(429);
      expect(await locked.text()).toMatch(/Try again in \d+ minutes?/);
    });

    it('the dashboard\'s "Allow sign-in from devices (CLI, TV)" sets the grant type', async () => {
      const page = await (await agent.fetch('/dashboard/clients')).text();
      expect(page).toContain('Allow sign-in from devices (CLI, TV)');
      const created = await agent.fetch('/dashboard/clients', {
        form: { _csrf: hiddenField(page, '_csrf'), name: 'From Dashboard', redirect_uri: 'http://127.0.0.1/cb', scope: 'profile', type: 'public', devices: 'on' },
      });
      expect(created.status).toBe(201);
      const listed = await call('GET', `${ts.api}/oauth/clients`, { key: owner.key });
      const client = listed.json.data.find((c: { name: string }) => c.name === 'From Dashboard');
      expect(client.grantTypes).toContain(DEVICE);
    });

    it('the pages need a session and CSRF', async () => {
      const anonymous = await fetch(`${ts.url}/device?user_code=BCDF-GHJK`, { redirect: 'manual' });
      expect(anonymous.status).toBe(303);
      expect(anonymous.headers.get('location')).toBe(`/login?return_to=${encodeURIComponent('/device?user_code=BCDF-GHJK')}`);
      const noCsrf = await agent.fetch('/device/decision', { form: { user_code: 'BCDF-GHJK', decision: 'allow' } });
      expect(noCsrf.status).toBe(403);
    });

    it('a device code of another client, a public client with a secret, a client without the grant, no device_code', async () => {
      const started = await start();
      const stolen = await tokenRequest(ts, form({ grant_type: DEVICE, device_code: started.device_code }), { authorization: basic(tv.clientId, tv.clientSecret) });
      expect(stolen.status).toBe(400);
      expect(stolen.json.error).toBe('invalid_grant');
      const withSecret = await tokenRequest(ts, form({ grant_type: DEVICE, device_code: started.device_code, client_id: cli.clientId, client_secret: 'secret_x' }));
      expect(withSecret.status).toBe(401);
      expect(withSecret.json.error).toBe('invalid_client');
      const notAllowed = await call('POST', `${ts.api}/oauth/device_authorization`, {
        body: form({ scope: 'profile' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(plain.clientId, plain.clientSecret) },
      });
      expect(notAllowed.status).toBe(400);
      expect(notAllowed.json.error).toBe('unauthorized_client');
      const pollNotAllowed = await tokenRequest(ts, form({ grant_type: DEVICE, device_code: started.device_code }), { authorization: basic(plain.clientId, plain.clientSecret) });
      expect(pollNotAllowed.json.error).toBe('unauthorized_client');
      const missing = await tokenRequest(ts, form({ grant_type: DEVICE, client_id: cli.clientId }));
      expect(missing.json.error).toBe('invalid_request');
      const badScope = await call('POST', `${ts.api}/oauth/device_authorization`, { body: form({ client_id: cli.clientId, scope: 'characters' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(badScope.json.error).toBe('invalid_scope');
      // SPEC §4 (RFC 6749 §3.3's default): no scope asks for what the client registered.
      const defaulted = await call('POST', `${ts.api}/oauth/device_authorization`, { body: form({ client_id: cli.clientId }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(defaulted.status).toBe(200);
      expect(defaulted.json.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
      const badTarget = await call('POST', `${ts.api}/oauth/device_authorization`, { body: form({ client_id: cli.clientId, scope: 'profile', resource: 'https://evil.example/' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(badTarget.json.error).toBe('invalid_target');
      // A device-only client cannot use the authorization endpoint.
      const page = await agent.fetch(`${ts.api}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: tv.clientId, redirect_uri: 'http://127.0.0.1/cb', scope: 'profile', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`);
      expect(new URL(page.headers.get('location')!).searchParams.get('error')).toBe('unauthorized_client');
    });
  });
});
