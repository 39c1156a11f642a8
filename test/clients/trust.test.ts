import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { PNG, startLogoServer } from '../helpers/logo-server.js';
import { authorizeUrl, basic, expectErrorPage, obtainCode, pkce, registerClient, signIn, standardParams, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const valid = { name: 'Branded App', redirectUris: ['https://app.example.com/callback'], scopes: ['profile'] };

/** SPEC §12: branding fields, logos, the operator's verification and suspension, recent errors. */
describe.each(DIALECTS)('apps people can trust (%s)', (dialect) => {
  let dev: TestServer; // CIMD_ALLOW_PRIVATE=true: loopback logos may be fetched
  let strict: TestServer;
  let logos: Awaited<ReturnType<typeof startLogoServer>>;
  let owner: Seeded;
  let strictOwner: Seeded;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    logos = await startLogoServer();
    dev = await startTestServer(dialect, { CIMD_ALLOW_PRIVATE: 'true', RATE_LIMIT_TOKEN: '0', RATE_LIMIT_REGISTER: '0', OPERATOR_NAME: 'Example Ops' });
    strict = await startTestServer(dialect, { RATE_LIMIT_REGISTER: '0' });
    owner = await seedUser(dev, `brand_${dialect}`);
    strictOwner = await seedUser(strict, `strict_${dialect}`);
  });
  afterAll(async () => {
    await dev?.close();
    await strict?.close();
    await logos?.close();
  });

  describe.skipIf(!dialectAvailable(dialect))('branding fields', () => {
    it('stores, returns and changes them over the REST API', async () => {
      const created = await call('POST', `${strict.api}/oauth/clients`, {
        key: strictOwner.key,
        json: { ...valid, clientUri: 'https://app.example.com', policyUri: 'https://app.example.com/privacy', tosUri: 'https://app.example.com/terms', contacts: ['dev@app.example.com'] },
      });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ clientUri: 'https://app.example.com', policyUri: 'https://app.example.com/privacy', tosUri: 'https://app.example.com/terms', contacts: ['dev@app.example.com'], logoUri: null, logoUrl: null, verified: false, suspended: false });
      const patched = await call('PATCH', `${strict.api}/oauth/clients/${created.json.clientId}`, { key: strictOwner.key, json: { policyUri: null, contacts: [] } });
      expect(patched.status).toBe(200);
      expect(patched.json).toMatchObject({ policyUri: null, contacts: [], clientUri: 'https://app.example.com' });
      expect((await call('GET', `${strict.api}/oauth/clients/${created.json.clientId}`, { key: strictOwner.key })).json).toEqual(patched.json);
    });

    it.each([
      ['logoUri', 'not a url'],
      ['clientUri', 'http://app.example.com/'],
      ['policyUri', 'javascript:alert(1)'],
      ['tosUri', 'https://user:pw@app.example.com/terms'],
    ])('refuses %s %s with a 400 naming the field', async (field, value) => {
      const reply = await call('POST', `${strict.api}/oauth/clients`, { key: strictOwner.key, json: { ...valid, [field]: value } });
      expect(reply.status).toBe(400);
      expect(reply.json.error).toMatchObject({ type: 'invalid_request_error', param: field, code: 'invalid_value' });
    });

    it.each([['not-an-email'], ['Dev <dev@app.example.com>'], ['a@b@app.example.com'], ['dev@localhost']])('refuses the contact %s', async (contact) => {
      const reply = await call('POST', `${strict.api}/oauth/clients`, { key: strictOwner.key, json: { ...valid, contacts: [contact] } });
      expect(reply.status).toBe(400);
      expect(reply.json.error).toMatchObject({ param: 'contacts', code: 'invalid_value' });
    });

    it('registration takes the RFC 7591 names and refuses bad ones with invalid_client_metadata', async () => {
      const register = (json: object) => call('POST', `${strict.api}/oauth/register`, { json: { redirect_uris: ['https://app.example.com/cb'], client_name: 'DCR', ...json } });
      const ok = await register({ client_uri: 'https://app.example.com', tos_uri: 'https://app.example.com/terms', contacts: ['ops@app.example.com'] });
      expect(ok.status).toBe(201);
      expect(ok.json).toMatchObject({ client_uri: 'https://app.example.com', tos_uri: 'https://app.example.com/terms', contacts: ['ops@app.example.com'] });
      const stored = await strict.services.clients.findRegistered(ok.json.client_id);
      expect(stored).toMatchObject({ clientUri: 'https://app.example.com', tosUri: 'https://app.example.com/terms', contacts: ['ops@app.example.com'] });
      for (const bad of [{ logo_uri: 'http://app.example.com/logo.png' }, { policy_uri: 'ftp://app.example.com/p' }, { contacts: ['nobody'] }]) {
        const refused = await register(bad);
        expect(refused.status).toBe(400);
        expect(refused.json.error).toBe('invalid_client_metadata');
      }
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('logos', () => {
    const withLogo = async (ts: TestServer, who: Seeded, logoUri: string) => call('POST', `${ts.api}/oauth/clients`, { key: who.key, json: { ...valid, logoUri } });

    it('fetches a PNG once and serves it from its own origin as an image', async () => {
      const before = logos.hits.get('/logo.png') ?? 0;
      const created = await withLogo(dev, owner, `${logos.origin}/logo.png`);
      expect(created.status).toBe(201);
      expect(created.json.logoError).toBeNull();
      expect(created.json.logoUrl).toMatch(new RegExp(`^/clients/${created.json.clientId}/logo\\?v=`));
      const image = await fetch(dev.url + created.json.logoUrl);
      expect(image.status).toBe(200);
      expect(image.headers.get('content-type')).toBe('image/png');
      expect(image.headers.get('x-content-type-options')).toBe('nosniff');
      expect(image.headers.get('cache-control')).toContain('max-age');
      expect(image.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(Buffer.from(await image.arrayBuffer()).equals(PNG)).toBe(true);
      // A PATCH that leaves logoUri as it was does not fetch it again.
      await call('PATCH', `${dev.api}/oauth/clients/${created.json.clientId}`, { key: owner.key, json: { name: 'Renamed', logoUri: `${logos.origin}/logo.png` } });
      expect(logos.hits.get('/logo.png')).toBe(before + 1);
      // Removing it removes the logo.
      const removed = await call('PATCH', `${dev.api}/oauth/clients/${created.json.clientId}`, { key: owner.key, json: { logoUri: null } });
      expect(removed.json).toMatchObject({ logoUri: null, logoUrl: null, logoError: null });
      expect((await fetch(dev.url + created.json.logoUrl)).status).toBe(404);
    });

    it('refuses wrong magic bytes and more than 100 KB, and the client is still created', async () => {
      const fake = await withLogo(dev, owner, `${logos.origin}/fake.png`);
      expect(fake.status).toBe(201);
      expect(fake.json).toMatchObject({ logoUrl: null, logoError: 'not_an_image' });
      expect((await fetch(`${dev.url}/clients/${fake.json.clientId}/logo`)).status).toBe(404);
      const big = await withLogo(dev, owner, `${logos.origin}/big.png`);
      expect(big.status).toBe(201);
      expect(big.json).toMatchObject({ logoUrl: null, logoError: 'too_large' });
    });

    it('never fetches from a private address without CIMD_ALLOW_PRIVATE (and refuses http there)', async () => {
      const port = new URL(logos.origin).port;
      const before = logos.hits.get('/logo.png') ?? 0;
      const privateLogo = await withLogo(strict, strictOwner, `https://127.0.0.1:${port}/logo.png`);
      expect(privateLogo.status).toBe(201);
      expect(privateLogo.json).toMatchObject({ logoUrl: null, logoError: 'unavailable' });
      expect(logos.hits.get('/logo.png') ?? 0).toBe(before);
      const http = await withLogo(strict, strictOwner, `${logos.origin}/logo.png`);
      expect(http.status).toBe(400);
      expect(http.json.error.param).toBe('logoUri');
    });

    it('fetches the logo of a registered client', async () => {
      const reply = await call('POST', `${dev.api}/oauth/register`, { json: { redirect_uris: ['https://app.example.com/cb'], client_name: 'Logo DCR', logo_uri: `${logos.origin}/logo.png` } });
      expect(reply.status).toBe(201);
      const client = await dev.services.clients.findRegistered(reply.json.client_id);
      expect(client?.logoUrl).toMatch(/^\/clients\//);
      expect((await fetch(dev.url + client!.logoUrl)).headers.get('content-type')).toBe('image/png');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('the consent page, verification and suspension', () => {
    let user: { agent: Agent };
    let client: TestClient;

    beforeAll(async () => {
      if (!dialectAvailable(dialect)) return;
      user = await userWithSession(dev, `consenter_${dialect}`);
      client = await registerClient(dev, owner, { name: 'Trusty', scopes: ['profile'] });
      await call('PATCH', `${dev.api}/oauth/clients/${client.clientId}`, { key: owner.key, json: { clientUri: 'https://trusty.example.com/home', policyUri: 'https://trusty.example.com/privacy', tosUri: 'https://trusty.example.com/terms', logoUri: `${logos.origin}/logo.png` } });
    });

    const consentPage = async () => {
      const response = await user.agent.fetch(authorizeUrl(dev, standardParams(client, pkce().challenge, { prompt: 'consent' })));
      expect(response.status).toBe(200);
      return { html: await response.text(), csp: response.headers.get('content-security-policy') ?? '' };
    };

    it('shows who stands behind an unverified app, then "Verified by" once verified', async () => {
      const before = await consentPage();
      expect(before.html).toContain('Serika has not verified this app.');
      expect(before.html).toContain(`Registered by <strong>${owner.username}</strong>`);
      expect(before.html).toContain('trusty.example.com');
      expect(before.html).toContain('href="https://trusty.example.com/privacy"');
      expect(before.html).toContain('href="https://trusty.example.com/terms"');
      expect(before.html).toMatch(/<img class="app-logo" src="\/clients\/client_[0-9a-f]+\/logo\?v=/);
      expect(before.csp).toContain("img-src 'self';");
      expect(before.html).toContain('Nobody has allowed it yet');
      const verified = await dev.services.clientTrust.verify(client.clientId, null);
      expect(verified.verifiedAt).not.toBeNull();
      const after = await consentPage();
      expect(after.html).toContain('Verified by Example Ops');
      expect(after.html).not.toContain('Serika has not verified this app.');
      await dev.services.clientTrust.unverify(client.clientId, null);
      expect((await consentPage()).html).toContain('Serika has not verified this app.');
    });

    it('suspension ends every token, refuses authorize and refresh; unsuspension allows new authorizations only', async () => {
      const { code, verifier } = await obtainCode(dev, user.agent, client);
      const tokens = await tokenRequest(dev, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(tokens.status).toBe(200);
      const bearer = { authorization: `Bearer ${tokens.json.access_token}` };
      expect((await call('GET', `${dev.api}/oauth/userinfo`, { headers: bearer })).status).toBe(200);

      await dev.services.clientTrust.suspend(client.clientId, null);
      expect((await call('GET', `${dev.api}/oauth/userinfo`, { headers: bearer })).status).toBe(401);
      const refreshed = await tokenRequest(dev, { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(refreshed.status).toBe(400);
      expect(refreshed.json.error).toBe('unauthorized_client');
      const page = await user.agent.fetch(authorizeUrl(dev, standardParams(client, pkce().challenge)));
      expect(page.status).toBe(403);
      expect(page.headers.get('location')).toBeNull();
      const text = await page.text();
      expect(text).toContain('Trusty');
      expect(text).toContain('is suspended');
      expect((await call('GET', `${dev.api}/oauth/clients/${client.clientId}`, { key: owner.key })).json.suspended).toBe(true);

      await dev.services.clientTrust.unsuspend(client.clientId, null);
      expect((await call('GET', `${dev.api}/oauth/userinfo`, { headers: bearer })).status).toBe(401);
      const again = await obtainCode(dev, user.agent, client);
      const fresh = await tokenRequest(dev, { grant_type: 'authorization_code', code: again.code, redirect_uri: client.redirectUri, code_verifier: again.verifier, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(fresh.status).toBe(200);
      const events = await dev.services.storage.db.selectFrom('audit_events').select('type').where('client_id', '=', client.clientId).execute();
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['client.verified', 'client.unverified', 'client.suspended', 'client.unsuspended']));
    });

    it("lists an invalid_grant under the owner's Recent errors, without the code", async () => {
      const bogus = 'serika_ac_' + 'x'.repeat(40);
      const refused = await tokenRequest(dev, { grant_type: 'authorization_code', code: bogus, redirect_uri: client.redirectUri, code_verifier: 'v'.repeat(50), client_id: client.clientId, client_secret: client.clientSecret! });
      expect(refused.json.error).toBe('invalid_grant');
      await dev.services.clientErrors.flush();
      const recent = await dev.services.clientErrors.list(client.clientId);
      expect(recent[0]).toMatchObject({ endpoint: 'token', error: 'invalid_grant', redirectUri: client.redirectUri });
      // The owner's dashboard: the client's page, its Recent errors card.
      const agent = await signIn(dev, owner.username);
      const page = await (await agent.fetch(`/dashboard/clients/${client.clientId}`)).text();
      expect(page).toContain('Recent errors');
      expect(page).toContain('invalid_grant');
      expect(page).not.toContain(bogus);
      expect(page).not.toContain('v'.repeat(50));
    });

    it('a suspended app gets no device confirmation and no new device code', async () => {
      const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
      const created = await call('POST', `${dev.api}/oauth/clients`, { key: owner.key, json: { name: 'Telly', public: true, redirectUris: [], scopes: ['profile'], grantTypes: [DEVICE] } });
      const clientId = created.json.clientId as string;
      const started = await call('POST', `${dev.api}/oauth/device_authorization`, { json: { client_id: clientId, scope: 'profile' } });
      expect(started.status).toBe(200);
      await dev.services.clientTrust.suspend(clientId, null);
      const page = await user.agent.fetch(`/device?user_code=${encodeURIComponent(started.json.user_code)}`);
      expect(page.status).toBe(403);
      expect(await page.text()).toContain('Telly');
      const again = await call('POST', `${dev.api}/oauth/device_authorization`, { json: { client_id: clientId, scope: 'profile' } });
      expect(again.status).toBe(400);
      expect(again.json.error).toBe('unauthorized_client');
    });

    it('a metadata document brings its logo and host; suspending it shows the suspended page at once', async () => {
      const clientId = `${logos.origin}/client.json`;
      const params = { response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:9/callback', scope: 'profile', code_challenge: pkce().challenge, code_challenge_method: 'S256' };
      const consent = await user.agent.fetch(authorizeUrl(dev, params));
      expect(consent.status).toBe(200);
      const html = await consent.text();
      expect(html).toContain('Serika has not verified this app.');
      expect(html).toContain(`Described by its metadata document at <span class="mono">127.0.0.1:${new URL(logos.origin).port}</span>`);
      expect(html).toContain('agent.example.com');
      expect(html).toMatch(/<img class="app-logo" src="\/clients\/http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fclient\.json\/logo\?v=/);
      const src = /<img class="app-logo" src="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
      const image = await fetch(dev.url + src);
      expect(image.headers.get('content-type')).toBe('image/png');

      await dev.services.clientTrust.suspend(clientId, null);
      const refused = await user.agent.fetch(authorizeUrl(dev, params));
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('Doc Agent');
      await dev.services.clientTrust.unsuspend(clientId, null);
    });

    it('records authorization errors too, and keeps the last 100 per client', async () => {
      const response = await user.agent.fetch(authorizeUrl(dev, standardParams(client, pkce().challenge, { scope: 'nonsense' })));
      expect(new URL(response.headers.get('location')!).searchParams.get('error')).toBe('invalid_scope');
      await dev.services.clientErrors.flush();
      expect((await dev.services.clientErrors.list(client.clientId))[0]).toMatchObject({ endpoint: 'authorize', error: 'invalid_scope', redirectUri: client.redirectUri });
      for (let i = 0; i < 105; i++) dev.services.clientErrors.record({ clientId: client.clientId, endpoint: 'token', error: 'invalid_grant', description: `n${i}`, redirectUri: null });
      // An unknown client's error is dropped, never a failure.
      dev.services.clientErrors.record({ clientId: 'client_unknown', endpoint: 'token', error: 'invalid_client', description: null, redirectUri: null });
      await dev.services.clientErrors.flush();
      const kept = await dev.services.clientErrors.list(client.clientId);
      expect(kept).toHaveLength(100);
      expect(kept[0]!.description).toBe('n104');
      expect(kept[99]!.description).toBe('n5');
      const rows = await dev.services.storage.db.selectFrom('client_errors').select('id').where('client_id', '=', client.clientId).execute();
      expect(rows).toHaveLength(100);
    });

    it("keeps a confidential client's token errors only once it authenticated; a public client's as before", async () => {
      const guarded = await registerClient(dev, owner, { name: 'Guarded', scopes: ['profile'] });
      const forged = 'https://intruder.example/cb';
      const bogus = { grant_type: 'authorization_code', code: 'serika_ac_' + 'y'.repeat(40), code_verifier: 'v'.repeat(50) };
      // Anyone knowing the client_id: no secret, a wrong one (in the body, then Basic), no grant_type at all.
      const unauthenticated = [
        await tokenRequest(dev, { ...bogus, redirect_uri: forged, client_id: guarded.clientId }),
        await tokenRequest(dev, { ...bogus, redirect_uri: forged, client_id: guarded.clientId, client_secret: 'not the secret' }),
        await tokenRequest(dev, { ...bogus, redirect_uri: forged }, { authorization: basic(guarded.clientId, 'not the secret') }),
        await tokenRequest(dev, { redirect_uri: forged, client_id: guarded.clientId }),
      ];
      expect(unauthenticated.map((r) => r.json.error)).toEqual(['invalid_client', 'invalid_client', 'invalid_client', 'invalid_request']);
      // The app itself, authenticated.
      const own = await tokenRequest(dev, { ...bogus, redirect_uri: guarded.redirectUri }, { authorization: basic(guarded.clientId, guarded.clientSecret!) });
      expect(own.json.error).toBe('invalid_grant');
      await dev.services.clientErrors.flush();
      expect(await dev.services.clientErrors.list(guarded.clientId)).toEqual([expect.objectContaining({ endpoint: 'token', error: 'invalid_grant', redirectUri: guarded.redirectUri })]);

      // A public client has no secret: what names it is its own, as before.
      const open = await registerClient(dev, owner, { name: 'Open', public: true, scopes: ['profile'] });
      expect((await tokenRequest(dev, { ...bogus, redirect_uri: forged, client_id: open.clientId })).json.error).toBe('invalid_grant');
      expect((await tokenRequest(dev, { ...bogus, redirect_uri: forged, client_id: open.clientId, client_secret: 'x' })).json.error).toBe('invalid_client');
      await dev.services.clientErrors.flush();
      expect((await dev.services.clientErrors.list(open.clientId)).map((e) => [e.error, e.redirectUri])).toEqual([['invalid_client', forged], ['invalid_grant', forged]]);
    });

    it('redirects the authorization errors of a self-registered app once an operator verified it (SPEC §4, RFC 9700 §4.11.2)', async () => {
      const registered = await call('POST', `${dev.api}/oauth/register`, { json: { client_name: 'Vetted', redirect_uris: ['https://vetted.example/cb'], token_endpoint_auth_method: 'none', scope: 'profile' } });
      expect(registered.status).toBe(201);
      const vetted: TestClient = { clientId: registered.json.client_id, clientSecret: null, redirectUri: 'https://vetted.example/cb', scopes: ['profile'] };
      const wrongScope = () => user.agent.fetch(authorizeUrl(dev, standardParams(vetted, pkce().challenge, { scope: 'characters' })));
      await expectErrorPage(await wrongScope(), 'invalid_scope');
      await dev.services.clientTrust.verify(vetted.clientId, null);
      const redirected = await wrongScope();
      expect(redirected.status).toBe(303);
      const location = new URL(redirected.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(vetted.redirectUri);
      expect(location.searchParams.get('error')).toBe('invalid_scope');
      await dev.services.clientTrust.unverify(vetted.clientId, null);
      await expectErrorPage(await wrongScope(), 'invalid_scope');
    });

    it('takes the branding fields from the dashboard form, by the rules of the API', async () => {
      const agent = await signIn(dev, owner.username);
      const page = await (await agent.fetch(`/dashboard/clients/${client.clientId}`)).text();
      const csrf = /name="_csrf" value="([^"]*)"/.exec(page)![1]!;
      const fields = { _csrf: csrf, name: 'Trusty', redirect_uri: client.redirectUri, scope: 'profile', id_token_signing_alg: 'RS256', client_uri: 'https://trusty.example.com/', policy_uri: '', tos_uri: '', logo_uri: '' };
      const refused = await agent.fetch(`/dashboard/clients/${client.clientId}`, { form: { ...fields, contacts: 'not an address' } });
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain('contacts must hold e-mail addresses');
      const saved = await agent.fetch(`/dashboard/clients/${client.clientId}`, { form: { ...fields, contacts: 'a@trusty.example.com\nb@trusty.example.com' } });
      expect(saved.status).toBe(200);
      expect(await dev.services.clients.get(owner.userId, client.clientId)).toMatchObject({ contacts: ['a@trusty.example.com', 'b@trusty.example.com'], policyUri: null, logoUri: null, logoUrl: null });
    });
  });
});
