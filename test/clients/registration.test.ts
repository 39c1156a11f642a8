import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneOnce } from '../../src/pruner.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, basic, decide, expectErrorPage, form, obtainCode, pkce, authorizeUrl, returnLink, standardParams, tokenRequest, userWithSession, type AuthorizeParams, type TestClient } from '../helpers/oauth.js';
import { call, startInstance, startTestServer, type TestServer } from '../helpers/server.js';

const DAY = 86_400_000;

/** SPEC §8, RFC 7591: dynamic client registration. */
describe.each(DIALECTS)('dynamic client registration (%s)', (dialect) => {
  let ts: TestServer;
  let agent: Agent;
  const register = (json: unknown, headers: Record<string, string> = {}) => call('POST', `${ts.api}/oauth/register`, { json, headers });

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', RATE_LIMIT_REGISTER: '0' });
    agent = (await userWithSession(ts, `dcr_${dialect}`)).agent;
  });
  afterAll(async () => ts?.close());

  const asClient = (reply: { json: any }): TestClient => ({
    clientId: reply.json.client_id,
    clientSecret: reply.json.client_secret ?? null,
    redirectUri: reply.json.redirect_uris[0],
    scopes: reply.json.scope.split(' '),
  });

  describe.skipIf(!dialectAvailable(dialect))('registration', () => {
    it('registers a public client: 201, the metadata as registered, no secret, CORS-open, no-store', async () => {
      const reply = await register(
        { client_name: 'Claude Code', redirect_uris: ['http://127.0.0.1:33418/callback', 'http://localhost/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], scope: 'profile generations', logo_uri: 'https://agent.example/logo.png', unknown_member: true },
        { origin: 'https://agent.example' },
      );
      expect(reply.status).toBe(201);
      expect(reply.headers.get('access-control-allow-origin')).toBe('*');
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect(reply.json).toEqual({
        client_id: expect.stringMatching(/^client_/),
        client_id_issued_at: expect.any(Number),
        client_name: 'Claude Code',
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1:33418/callback', 'http://localhost/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        scope: 'profile generations',
        logo_uri: 'https://agent.example/logo.png',
      });
      expect(Math.abs(reply.json.client_id_issued_at - Date.now() / 1000)).toBeLessThan(60);
    });

    it('application_type (OpenID DCR §2): stored, checked and echoed; absent it follows the redirect URIs (SPEC §8)', async () => {
      const typeOf = async (json: Record<string, unknown>) => {
        const reply = await register({ client_name: 'Typed', token_endpoint_auth_method: 'none', ...json });
        return reply.status === 201 ? reply.json.application_type : `${reply.status} ${reply.json.error}`;
      };
      expect(await typeOf({ redirect_uris: ['https://app.example/cb'] })).toBe('web');
      expect(await typeOf({ redirect_uris: ['http://127.0.0.1:9000/cb', 'com.example.app:/cb'] })).toBe('native');
      expect(await typeOf({ application_type: 'web', redirect_uris: ['https://app.example/cb'] })).toBe('web');
      expect(await typeOf({ application_type: 'native', redirect_uris: ['com.example.app:/cb'] })).toBe('native');
      expect(await typeOf({ application_type: 'spaceship', redirect_uris: ['https://app.example/cb'] })).toBe('400 invalid_client_metadata');
      expect(await typeOf({ application_type: 'web', redirect_uris: ['http://localhost/cb'] })).toBe('400 invalid_redirect_uri');
      expect(await typeOf({ application_type: 'native', redirect_uris: ['https://app.example/cb'] })).toBe('400 invalid_redirect_uri');
      const mixed = await register({ token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/cb', 'http://127.0.0.1/cb'] });
      expect(mixed.json).toEqual({ error: 'invalid_redirect_uri', error_description: expect.stringContaining('application_type web takes https redirect URIs only') });
      // Stored: the client reads back what was registered (a second instance or the cache sees the same).
      const stored = await register({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] });
      const row = await ts.services.storage.db.selectFrom('oauth_clients').select('metadata').where('id', '=', stored.json.client_id).executeTakeFirstOrThrow();
      expect(JSON.parse(row.metadata!).application_type).toBe('native');
    });

    it('a device-only client registers without redirect URIs; the authorization code grant still needs one', async () => {
      const device = await register({ client_name: 'Living Room TV', token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] });
      expect(device.status).toBe(201);
      expect(device.json).toMatchObject({ redirect_uris: [], application_type: 'native', response_types: [] });
      const started = await call('POST', `${ts.api}/oauth/device_authorization`, { body: `client_id=${device.json.client_id}&scope=profile`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(started.status).toBe(200);
      const codeFlow = await register({ token_endpoint_auth_method: 'none' });
      expect(codeFlow.status).toBe(400);
      expect(codeFlow.json).toEqual({ error: 'invalid_redirect_uri', error_description: 'redirect_uris is required (at least one) for the authorization_code grant.' });
    });

    it('a confidential client gets a secret that never expires, and signs in through consent marked unverified, every time', async () => {
      const reply = await register({ client_name: 'Agent Hub', redirect_uris: ['https://hub.example/cb'] });
      expect(reply.status).toBe(201);
      expect(reply.json).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', client_secret: expect.stringMatching(/^secret_/), client_secret_expires_at: 0, scope: 'profile email generations characters' });
      const client = asClient(reply);
      for (let round = 0; round < 2; round++) {
        const { challenge, verifier } = pkce();
        const page = await agent.fetch(authorizeUrl(ts, standardParams(client, challenge, { scope: 'profile' })));
        // SPEC §8: registered clients always see consent, even with a stored grant.
        expect(page.status).toBe(200);
        const htmlText = await page.text();
        expect(htmlText).toContain('Unverified app');
        expect(htmlText).not.toContain('Registered by');
        const back = await decide(agent, ts, htmlText, 'allow');
        const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
        const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, { authorization: basic(client.clientId, client.clientSecret!) });
        expect(tokens.status).toBe(200);
        expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.json.access_token}` } })).status).toBe(200);
      }
      const apps = await (await agent.fetch('/dashboard/apps')).text();
      expect(apps).toContain('Agent Hub');
      expect(apps).toMatch(/Agent Hub <span class="badge warning"[^>]*>Unverified<\/span>/);
      const clients = await (await agent.fetch('/dashboard/clients')).text();
      expect(clients).not.toContain('Agent Hub');
    });

    it('authorization errors of a registered client are pages, never redirects; Deny offers a link; Allow redirects (RFC 9700 §4.11.2)', async () => {
      const evil = asClient(await register({ client_name: 'Phisher', redirect_uris: ['https://evil.example/x'], token_endpoint_auth_method: 'none', scope: 'profile' }));
      const authorize = (extra: AuthorizeParams = {}, as: Agent = agent) => as.fetch(authorizeUrl(ts, standardParams(evil, pkce().challenge, extra)));
      const cases: Array<[AuthorizeParams, string, string]> = [
        [{ response_type: 'token' }, 'unsupported_response_type', 'Only response_type=code is supported.'],
        [{ response_type: undefined }, 'invalid_request', 'response_type is missing.'],
        [{ code_challenge: undefined }, 'invalid_request', 'code_challenge is required'],
        [{ scope: 'characters' }, 'invalid_scope', 'Scope not allowed for this client: characters'],
        [{ resource: 'https://other.example/' }, 'invalid_target', 'is not served by this authorization server'],
        [{ authorization_details: '{"type":"serika_budget"}' }, 'invalid_authorization_details', 'authorization_details'],
        [{ request: 'eyJhbGciOiJub25lIn0.e30.' }, 'request_not_supported', 'Request objects (request) are not supported.'],
        [{ id_token_hint: 'not-a-token' }, 'invalid_request', 'id_token_hint is not a valid ID token'],
        // A registered client always sees consent (SPEC §8), so prompt=none cannot pass.
        [{ prompt: 'none' }, 'consent_required', 'The user has not yet allowed this app.'],
      ];
      for (const [extra, error, description] of cases) {
        const page = await expectErrorPage(await authorize(extra), error);
        expect(page).toContain(description);
        // Not even a link: the request, not the user, made this error.
        expect(returnLink(page)).toBeNull();
        expect(page).not.toContain('evil.example/x');
      }
      await expectErrorPage(await authorize({ prompt: 'none' }, new Agent(ts.url, ts.config.publicUrl)), 'login_required');

      const denied = await expectErrorPage(await decide(agent, ts, await (await authorize()).text(), 'deny'), 'access_denied');
      const back = returnLink(denied)!;
      expect(`${back.origin}${back.pathname}`).toBe('https://evil.example/x');
      expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'access_denied', error_description: 'The user denied the request.', state: 'state-123', iss: ts.config.publicUrl });
      expect(denied).toContain('Return to evil.example');

      const allowed = await decide(agent, ts, await (await authorize()).text(), 'allow');
      expect(allowed.status).toBe(303);
      expect(new URL(allowed.headers.get('location')!).searchParams.get('code')).toMatch(/^serika_ac_/);
    });

    it.each([
      ['no redirect_uris', { client_name: 'x' }, 'invalid_redirect_uri'],
      ['an http redirect URI off loopback', { redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri'],
      ['a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri'],
      ['a wildcard', { redirect_uris: ['https://*.app.example/cb'] }, 'invalid_redirect_uri'],
      ['a relative URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri'],
      ['a scheme without a dot', { redirect_uris: ['myapp:/cb'] }, 'invalid_redirect_uri'],
      ['eleven redirect URIs', { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example/cb${i}`) }, 'invalid_redirect_uri'],
      ['an unknown token_endpoint_auth_method', { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
      ['an unsupported grant type', { redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'implicit'] }, 'invalid_client_metadata'],
      ['an unsupported response type', { redirect_uris: ['https://app.example/cb'], response_types: ['token'] }, 'invalid_client_metadata'],
      ['a 1 MB client_name', { redirect_uris: ['https://app.example/cb'], client_name: 'x'.repeat(1_000_000) }, 'invalid_client_metadata'],
      ['an unknown scope', { redirect_uris: ['https://app.example/cb'], scope: 'profile root' }, 'invalid_client_metadata'],
      ['a number for client_name', { redirect_uris: ['https://app.example/cb'], client_name: 7 }, 'invalid_client_metadata'],
      ['an array body', [{ redirect_uris: ['https://app.example/cb'] }], 'invalid_client_metadata'],
      ['null', null, 'invalid_client_metadata'],
    ])('%s → 400 %s', async (_name, body, code) => {
      const reply = await register(body);
      expect(reply.status).toBe(400);
      expect(reply.json).toEqual({ error: code, error_description: expect.any(String) });
    });

    it('non-JSON, malformed JSON and prototype keys → 400 invalid_client_metadata; 10 MB → 413', async () => {
      for (const [body, type] of [
        ['redirect_uris=https://app.example/cb', 'application/x-www-form-urlencoded'],
        ['hello', 'text/plain'],
        ['{"redirect_uris": [', 'application/json'],
        ['{"__proto__": {"x": 1}, "redirect_uris": ["https://app.example/cb"]}', 'application/json'],
      ]) {
        const reply = await call('POST', `${ts.api}/oauth/register`, { body, headers: { 'content-type': type! } });
        expect(reply.status, body).toBe(400);
        expect(reply.json.error).toBe('invalid_client_metadata');
      }
      const huge = await call('POST', `${ts.api}/oauth/register`, { body: JSON.stringify({ redirect_uris: ['https://app.example/cb'], pad: 'x'.repeat(10_000_000) }), headers: { 'content-type': 'application/json' } });
      expect(huge.status).toBe(413);
    });

    it('ownerless clients unused for 30 days are deleted by the pruner; granted ones stay (injected clock)', async () => {
      const unused = asClient(await register({ client_name: 'Never used', redirect_uris: ['https://never.example/cb'] }));
      const granted = asClient(await register({ client_name: 'Still granted', redirect_uris: ['https://kept.example/cb'] }));
      await obtainCode(ts, agent, granted, { scope: 'profile' });
      const owned = (await ts.services.storage.db.selectFrom('oauth_clients').select('id').where('user_id', 'is not', null).execute()).length;
      const later = (days: number) => ({ ...ts.services, now: () => Date.now() + days * DAY });
      expect((await pruneOnce(later(29)))!.unusedOwnerlessClients).toBe(0);
      const counts = (await pruneOnce(later(31)))!;
      expect(counts.unusedOwnerlessClients).toBeGreaterThanOrEqual(1);
      expect(await ts.services.clients.findRegistered(unused.clientId)).toBeUndefined();
      expect(await ts.services.clients.findRegistered(granted.clientId)).toBeDefined();
      expect((await ts.services.storage.db.selectFrom('oauth_clients').select('id').where('user_id', 'is not', null).execute()).length).toBe(owned);
      // Once its grant is revoked, it goes 30 days after it was last granted.
      const userId = (await ts.services.users.findByUsername(`dcr_${dialect}`))!.id;
      await ts.services.grants.revokeAccess(userId, granted.clientId);
      expect((await pruneOnce(later(29)))!.unusedOwnerlessClients).toBe(0);
      await pruneOnce(later(31));
      expect(await ts.services.clients.findRegistered(granted.clientId)).toBeUndefined();
    });
  });

  if (dialect === 'postgres') {
    describe.skipIf(!dialectAvailable(dialect))('two instances', () => {
      it('a client registered at one instance signs in at the other', async () => {
        const other = await startInstance(ts.database.url, { RATE_LIMIT_TOKEN: '0', PUBLIC_URL: ts.config.publicUrl });
        try {
          const reply = await call('POST', `${other.api}/oauth/register`, { json: { client_name: 'Roaming', redirect_uris: ['https://roam.example/cb'], token_endpoint_auth_method: 'none' } });
          expect(reply.status).toBe(201);
          const client = asClient(reply);
          // A fresh session: the pruner test above ran with a clock a month ahead.
          const { agent: fresh } = await userWithSession(ts);
          const { code, verifier } = await obtainCode(ts, fresh, client, { scope: 'profile' });
          const tokens = await tokenRequest(other, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId }));
          expect(tokens.status).toBe(200);
        } finally {
          await other.close();
        }
      });
    });
  }
});

describe('registration settings', () => {
  let closed: TestServer;
  let limited: TestServer;
  beforeAll(async () => {
    closed = await startTestServer('sqlite', { REGISTRATION: 'closed' });
    limited = await startTestServer('sqlite', { RATE_LIMIT_REGISTER: '2' });
  });
  afterAll(async () => {
    await closed?.close();
    await limited?.close();
  });

  it('REGISTRATION=closed: 403 and no registration_endpoint in the metadata', async () => {
    const reply = await call('POST', `${closed.api}/oauth/register`, { json: { redirect_uris: ['https://app.example/cb'] } });
    expect(reply.status).toBe(403);
    expect(reply.json.error_description).toContain('REGISTRATION=closed');
    const metadata = (await call('GET', `${closed.url}/.well-known/oauth-authorization-server`)).json;
    expect(metadata).not.toHaveProperty('registration_endpoint');
  });

  it('RATE_LIMIT_REGISTER per IP per hour: then 429 with Retry-After', async () => {
    const body = { redirect_uris: ['https://app.example/cb'] };
    expect((await call('POST', `${limited.api}/oauth/register`, { json: body })).status).toBe(201);
    expect((await call('POST', `${limited.api}/oauth/register`, { json: body })).status).toBe(201);
    const third = await call('POST', `${limited.api}/oauth/register`, { json: body });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(60);
  });
});
