import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import {
  authorizeUrl,
  decide,
  expectErrorPage,
  form,
  obtainCode,
  tokenRequest,
  pkce,
  registerClient,
  standardParams,
  userWithSession,
  type Agent,
  type AuthorizeParams,
  type TestClient,
} from '../helpers/oauth.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe.each(DIALECTS)('authorization endpoint (%s)', (dialect) => {
  let ts: TestServer;
  let agent: Agent;
  let client: TestClient;
  let queryClient: TestClient;
  let loopbackClient: TestClient;
  const { challenge } = pkce();

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    const session = await userWithSession(ts, `az_${dialect}`);
    agent = session.agent;
    client = await registerClient(ts, session.user, { redirectUris: ['https://app.example.com/callback'] });
    queryClient = await registerClient(ts, session.user, { redirectUris: ['https://app.example.com/cb?tenant=a%20b&x=1'] });
    loopbackClient = await registerClient(ts, session.user, {
      public: true,
      redirectUris: ['http://127.0.0.1/cb', 'http://localhost:7000/cb', 'http://[::1]/cb'],
    });
  });
  afterAll(async () => ts?.close());

  const get = (params: AuthorizeParams | Array<[string, string]>) => agent.fetch(authorizeUrl(ts, params));
  const params = (overrides: AuthorizeParams = {}) => standardParams(client, challenge, overrides);

  function expectRedirectError(response: Response, error: string, base = client.redirectUri, state: string | null = 'state-123') {
    expect(response.status).toBe(303);
    const location = response.headers.get('location')!;
    expect(location.startsWith(base + (base.includes('?') ? '&' : '?'))).toBe(true);
    const url = new URL(location);
    expect(url.searchParams.get('error')).toBe(error);
    expect(url.searchParams.get('code')).toBeNull();
    expect(url.searchParams.get('state')).toBe(state);
    expect(url.searchParams.get('iss')).toBe(ts.config.publicUrl);
    return url;
  }

  describe.skipIf(!dialectAvailable(dialect))('OAUTH-CASES AZ', () => {
    it('AZ-01 unknown or missing client_id → error page, never a redirect', async () => {
      await expectErrorPage(await get(params({ client_id: 'client_00000000000000000000000000000000' })), 'invalid_client');
      await expectErrorPage(await get(params({ client_id: undefined })), 'invalid_request');
      await expectErrorPage(await get(params({ client_id: '' })), 'invalid_request');
    });

    it('AZ-02 unregistered redirect_uri → error page, checked before every other parameter', async () => {
      const response = await get({ client_id: client.clientId, redirect_uri: 'https://evil.example.com/cb', response_type: 'token', scope: 'nope' });
      await expectErrorPage(response, 'invalid_request');
    });

    it.each([
      ['a trailing slash', 'https://app.example.com/callback/'],
      ['another case', 'https://APP.example.com/callback'],
      ['an extra path', 'https://app.example.com/callback/extra'],
      ['a port', 'https://app.example.com:8443/callback'],
      ['%-encoding', 'https://app.example.com/%63allback'],
      ['a fragment', 'https://app.example.com/callback#x'],
    ])('AZ-03 off-by-one redirect URI (%s) fails like AZ-02', async (_label, uri) => {
      await expectErrorPage(await get(params({ redirect_uri: uri })), 'invalid_request');
    });

    it('AZ-04 a query added or changed fails; the registered query exactly succeeds', async () => {
      const q = (uri: string) => standardParams(queryClient, challenge, { redirect_uri: uri, response_type: 'token' });
      await expectErrorPage(await get(q('https://app.example.com/callback?x=1')), 'invalid_request');
      await expectErrorPage(await get(q('https://app.example.com/cb?tenant=a%20b&x=2')), 'invalid_request');
      await expectErrorPage(await get(q('https://app.example.com/cb?tenant=a+b&x=1')), 'invalid_request');
      await expectErrorPage(await get(q('https://app.example.com/cb')), 'invalid_request');
      const ok = await get(q(queryClient.redirectUri));
      // The registered query is kept byte for byte, and the response parameters are appended.
      expect(ok.headers.get('location')).toMatch(/^https:\/\/app\.example\.com\/cb\?tenant=a%20b&x=1&error=unsupported_response_type&/);
    });

    it('AZ-05 the http:// form of a registered https:// URI fails', async () => {
      await expectErrorPage(await get(params({ redirect_uri: 'http://app.example.com/callback' })), 'invalid_request');
    });

    it('AZ-06 loopback redirect URIs match with any port, same path', async () => {
      const l = (uri: string) => standardParams(loopbackClient, challenge, { redirect_uri: uri, response_type: 'token' });
      for (const uri of ['http://127.0.0.1:51234/cb', 'http://127.0.0.1/cb', 'http://localhost:9/cb', 'http://localhost/cb', 'http://[::1]:8080/cb']) {
        expectRedirectError(await get(l(uri)), 'unsupported_response_type', uri);
      }
      for (const uri of ['http://127.0.0.1:51234/cb2', 'http://127.0.0.1:51234/', 'https://127.0.0.1:51234/cb', 'http://127.0.0.2:5/cb', 'http://localhost:7000/cb?x=1']) {
        await expectErrorPage(await get(l(uri)), 'invalid_request');
      }
    });

    it('AZ-07 missing redirect_uri → error page invalid_request', async () => {
      await expectErrorPage(await get(params({ redirect_uri: undefined })), 'invalid_request');
    });

    it('AZ-08 missing response_type → redirect invalid_request with state and iss', async () => {
      expectRedirectError(await get(params({ response_type: undefined })), 'invalid_request');
    });

    it('AZ-09 response_type=token or anything else → unsupported_response_type', async () => {
      for (const type of ['token', 'id_token', 'code token', 'CODE']) {
        expectRedirectError(await get(params({ response_type: type })), 'unsupported_response_type');
      }
    });

    it('AZ-10 no code_challenge → invalid_request', async () => {
      expectRedirectError(await get(params({ code_challenge: undefined })), 'invalid_request');
    });

    it('AZ-11 code_challenge_method plain, missing or unknown → invalid_request', async () => {
      for (const method of ['plain', undefined, 'S512', 's256']) {
        expectRedirectError(await get(params({ code_challenge_method: method })), 'invalid_request');
      }
    });

    it('AZ-12 code_challenge not 43–128 unreserved characters → invalid_request', async () => {
      for (const bad of ['a'.repeat(42), 'a'.repeat(129), 'a'.repeat(42) + '+', 'a'.repeat(42) + '=']) {
        expectRedirectError(await get(params({ code_challenge: bad })), 'invalid_request');
      }
    });

    it('AZ-13 unknown, unregistered or blank scope → invalid_scope', async () => {
      const narrow = await registerClient(ts, (await userWithSession(ts, `narrow_${dialect}`)).user, { scopes: ['profile'] });
      expectRedirectError(await get(params({ scope: 'profile admin' })), 'invalid_scope');
      expectRedirectError(await get(standardParams(narrow, challenge, { scope: 'generations' })), 'invalid_scope');
      expectRedirectError(await get(params({ scope: '   ' })), 'invalid_scope');
      expectRedirectError(await get(params({ scope: 'offline_access' })), 'invalid_scope');
    });

    it('SPEC §4: an omitted scope asks for the scopes the client registered (RFC 6749 §3.3 default)', async () => {
      const owner = await userWithSession(ts, `default_scope_${dialect}`);
      const registered = await registerClient(ts, owner.user, { scopes: ['profile', 'characters'] });
      const { code, verifier } = await obtainCode(ts, owner.agent, registered, { scope: undefined });
      const tokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: registered.redirectUri, code_verifier: verifier, client_id: registered.clientId, client_secret: registered.clientSecret! }));
      expect(tokens.status).toBe(200);
      expect(tokens.json.scope).toBe('profile characters');
      // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
      const empty = await obtainCode(ts, owner.agent, registered, { scope: '', prompt: 'consent' });
      const emptyTokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code: empty.code, redirect_uri: registered.redirectUri, code_verifier: empty.verifier, client_id: registered.clientId, client_secret: registered.clientSecret! }));
      expect(emptyTokens.json.scope).toBe('profile characters');
      // The positive anchor of AZ-13's refusals: the same request naming a registered scope gets that scope alone.
      const named = await obtainCode(ts, owner.agent, registered, { scope: 'characters', prompt: 'consent' });
      const narrowed = await tokenRequest(ts, form({ grant_type: 'authorization_code', code: named.code, redirect_uri: registered.redirectUri, code_verifier: named.verifier, client_id: registered.clientId, client_secret: registered.clientSecret! }));
      expect(narrowed.json.scope).toBe('characters');
    });

    it('AZ-14 state echoed byte for byte on success and every redirected error; absent when not sent', async () => {
      const states = ['s', 'x'.repeat(200), 'a b+c/d?e=f&g=h%20é😀<script>"\''];
      for (const state of states) {
        expectRedirectError(await get(params({ state, response_type: 'token' })), 'unsupported_response_type', client.redirectUri, state);
        const ok = await get(params({ state, prompt: 'consent' }));
        expect(ok.status).toBe(200);
        const done = await decide(agent, ts, await ok.text(), 'allow');
        expect(new URL(done.headers.get('location')!).searchParams.get('state')).toBe(state);
      }
      const none = expectRedirectError(await get(params({ state: undefined, response_type: 'token' })), 'unsupported_response_type', client.redirectUri, null);
      expect(none.searchParams.has('state')).toBe(false);
    });

    it('AZ-15 Deny → access_denied with state and iss, no code', async () => {
      const page = await get(params({ prompt: 'consent' }));
      expect(page.status).toBe(200);
      const url = expectRedirectError(await decide(agent, ts, await page.text(), 'deny'), 'access_denied');
      expect(url.searchParams.get('error_description')).toEqual(expect.any(String));
    });

    it('AZ-16 repeated parameters → invalid_request (a page for client_id and redirect_uri); unknown ignored; empty is absent', async () => {
      const base = Object.entries(params()) as Array<[string, string]>;
      await expectErrorPage(await get([...base, ['client_id', client.clientId]]), 'invalid_request');
      await expectErrorPage(await get([...base, ['redirect_uri', client.redirectUri]]), 'invalid_request');
      expectRedirectError(await get([...base, ['scope', 'profile']]), 'invalid_request');
      expectRedirectError(await get([...base, ['response_type', 'code']]), 'invalid_request');
      const withUnknown = await get([...base, ['prompt', 'consent'], ['nonce', 'n'], ['whatever', 'x']]);
      expect(withUnknown.status).toBe(200);
      expectRedirectError(await get(params({ code_challenge: '' })), 'invalid_request');
    });

    it('AZ-17 control characters or values over 2048 characters → invalid_request; a 2048-character state is echoed', async () => {
      expectRedirectError(await get(params({ scope: 'profile\u0000' })), 'invalid_request');
      expectRedirectError(await get(params({ nonce: 'n'.repeat(2049) })), 'invalid_request');
      const longState = 's'.repeat(2048);
      expectRedirectError(await get(params({ state: longState, response_type: 'token' })), 'unsupported_response_type', client.redirectUri, longState);
      expectRedirectError(await get(params({ state: 's'.repeat(2049) })), 'invalid_request', client.redirectUri, null);
      expectRedirectError(await get(params({ state: 'a\r\nSet-Cookie: x=1' })), 'invalid_request', client.redirectUri, null);
      await expectErrorPage(await get(params({ client_id: 'c'.repeat(2049) })), 'invalid_request');
    });

    it('AZ-17 nothing is reflected unescaped into HTML or Location', async () => {
      const page = await expectErrorPage(await get(params({ client_id: '<script>alert(1)</script>' })), 'invalid_client');
      expect(page).not.toContain('<script>alert(1)</script>');
      const evil = await registerClient(ts, (await userWithSession(ts, `evil_${dialect}`)).user, { name: '<img src=x onerror=alert(1)>' });
      const consent = await get(standardParams(evil, challenge));
      const html = await consent.text();
      expect(html).not.toContain('<img src=x');
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
      const redirect = await get(params({ state: '"><script>\r\n', response_type: 'token' }));
      expect(redirect.headers.get('location')).not.toMatch(/[<>"\r\n]/);
    });

    it('AZ-19 every authorization response, errors included, carries iss equal to the metadata issuer', async () => {
      const metadata = (await (await fetch(`${ts.url}/.well-known/oauth-authorization-server`)).json()) as any;
      const error = await get(params({ response_type: 'token' }));
      expect(new URL(error.headers.get('location')!).searchParams.get('iss')).toBe(metadata.issuer);
      const page = await get(params({ prompt: 'consent' }));
      const allowed = await decide(agent, ts, await page.text(), 'allow');
      expect(new URL(allowed.headers.get('location')!).searchParams.get('iss')).toBe(metadata.issuer);
    });

    it('AZ-20 the redirect after the consent POST is 303, never 307', async () => {
      const page = await get(params({ prompt: 'consent' }));
      const response = await decide(agent, ts, await page.text(), 'allow');
      expect(response.status).toBe(303);
    });

    it('sends a signed-out user to sign in, with a return path back to this request', async () => {
      const url = authorizeUrl(ts, params());
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status).toBe(303);
      const location = response.headers.get('location')!;
      expect(location.startsWith('/login?return_to=')).toBe(true);
      expect(decodeURIComponent(location.slice('/login?return_to='.length))).toBe(url.slice(ts.url.length));
    });

    it('answers prompt=none without a session with login_required, and without a grant with consent_required', async () => {
      const signedOut = await fetch(authorizeUrl(ts, params({ prompt: 'none' })), { redirect: 'manual' });
      expectRedirectError(signedOut, 'login_required');
      const fresh = await userWithSession(ts, `fresh_${dialect}`);
      expectRedirectError(await fresh.agent.fetch(authorizeUrl(ts, params({ prompt: 'none' }))), 'consent_required');
    });

    it('decides a pending request once: a second POST of the same page is refused', async () => {
      const page = await (await get(params({ prompt: 'consent' }))).text();
      expect((await decide(agent, ts, page, 'allow')).status).toBe(303);
      const again = await decide(agent, ts, page, 'allow');
      expect(again.status).toBe(400);
      expect(again.headers.get('location')).toBeNull();
    });

    it("refuses to decide another user's pending request", async () => {
      const page = await (await get(params({ prompt: 'consent' }))).text();
      const other = await userWithSession(ts, `other_${dialect}`);
      const response = await decide(other.agent, ts, page.replace(/name="_csrf" value="[^"]*"/, `name="_csrf" value="x"`), 'allow');
      expect(response.status).toBe(403);
      const otherPage = await (await other.agent.fetch(authorizeUrl(ts, params()))).text();
      const mixed = otherPage.replace(/name="request_id" value="[^"]*"/, `name="request_id" value="${/name="request_id" value="([^"]*)"/.exec(page)![1]}"`);
      const stolen = await decide(other.agent, ts, mixed, 'allow');
      expect(stolen.status).toBe(400);
      expect(stolen.headers.get('location')).toBeNull();
    });
  });
});
