import { SignJWT, createLocalJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, PASSWORD, authorizeUrl, decide, hiddenField, pkce, registerClient, returnLink, signIn, standardParams, userWithSession } from '../helpers/oauth.js';
import { IdTokens } from '../../src/oidc/id-token.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';
const SIGNED_OUT = 'https://rp.example.com/signed-out';

/** Follows Serika's pages like a browser: consent if asked, then the callback URL. */
async function frontChannel(ts: TestServer, agent: Agent, url: URL | string): Promise<URL> {
  let response = await agent.fetch(String(url));
  if (response.status === 200) response = await decide(agent, ts, await response.text(), 'allow');
  expect(response.status).toBe(303);
  return new URL(response.headers.get('location')!);
}

describe.each(DIALECTS)('OpenID Connect with openid-client v6 as the relying party (%s)', (dialect) => {
  let ts: TestServer;
  let user: Seeded;
  let agent: Agent;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    user = await seedUser(ts);
    await ts.services.storage.db.updateTable('users').set({ email: 'ada@example.com' }).where('id', '=', user.userId).execute();
    agent = await signIn(ts, user.username);
  });
  afterAll(async () => ts?.close());

  describe.skipIf(!dialectAvailable(dialect))('every flow', () => {

    const rpFor = async (alg: 'RS256' | 'ES256' | 'EdDSA') => {
      const registered = await call('POST', `${ts.api}/oauth/clients`, {
        key: user.key,
        json: { name: `RP ${alg}`, redirectUris: [REDIRECT], scopes: ['profile', 'email', 'generations'], idTokenSigningAlg: alg, postLogoutRedirectUris: [SIGNED_OUT] },
      });
      expect(registered.status).toBe(201);
      const config = await client.discovery(new URL(ts.config.publicUrl), registered.json.clientId, { id_token_signed_response_alg: alg }, client.ClientSecretPost(registered.json.clientSecret), {
        execute: [client.allowInsecureRequests],
      });
      return { config, clientId: registered.json.clientId as string };
    };

    it('publishes one discovery document at both addresses, issuer exactly PUBLIC_URL', async () => {
      const oidc = await call('GET', `${ts.url}/.well-known/openid-configuration`);
      const oauth = await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
      expect(oidc.json).toEqual(oauth.json);
      expect(oidc.json).toMatchObject({
        issuer: ts.config.publicUrl,
        jwks_uri: `${ts.config.publicUrl}/.well-known/jwks.json`,
        end_session_endpoint: `${ts.config.publicUrl}/api/openai/v1/oauth/end_session`,
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
        response_modes_supported: ['query'],
        request_parameter_supported: false,
        prompt_values_supported: ['none', 'login', 'consent'],
      });
      expect(oidc.headers.get('access-control-allow-origin')).toBe('*');
      const jwks = await call('GET', `${ts.url}/.well-known/jwks.json`);
      expect(jwks.json.keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
      for (const key of jwks.json.keys) {
        expect(key).toMatchObject({ use: 'sig', kid: expect.any(String) });
        expect(key.d).toBeUndefined();
      }
    });

    it.each(['RS256', 'ES256', 'EdDSA'] as const)('signs in with %s: code + PKCE + nonce, ID token claims and signature, userinfo, refresh, logout', async (alg) => {
      const { config, clientId } = await rpFor(alg);
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid profile email offline_access',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
        state,
      });
      const callback = await frontChannel(ts, agent, url);
      const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
      const claims = tokens.claims()!;
      expect(claims).toMatchObject({
        iss: ts.config.publicUrl,
        sub: user.userId,
        aud: clientId,
        nonce,
        preferred_username: user.username,
        name: user.username,
        email: 'ada@example.com',
        email_verified: false,
      });
      expect(claims.auth_time).toEqual(expect.any(Number));
      expect(claims.exp! - claims.iat!).toBe(3600);
      // OIDC Core §5.3.2: no avatar, no picture claim (never null); the next test sees one once the user has an avatar.
      expect(claims).not.toHaveProperty('picture');

      const header = decodeProtectedHeader(tokens.id_token!);
      expect(header.alg).toBe(alg);
      const jwks = createLocalJWKSet((await call('GET', `${ts.url}/.well-known/jwks.json`)).json);
      const verified = await jwtVerify(tokens.id_token!, jwks, { issuer: ts.config.publicUrl, audience: clientId, algorithms: [alg] });
      expect(verified.protectedHeader.kid).toBe(header.kid);

      const info = await client.fetchUserInfo(config, tokens.access_token, user.userId);
      expect(info).toMatchObject({ sub: user.userId, id: user.userId, username: user.username, preferred_username: user.username, email: 'ada@example.com', email_verified: false });
      expect(info).not.toHaveProperty('picture');
      expect(info.avatar).toBeNull(); // the seed's own field stays (SPEC §2)

      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.id_token).toBeDefined();
      expect(refreshed.id_token).not.toBe(tokens.id_token);
      expect(refreshed.claims()).toMatchObject({ sub: user.userId, auth_time: claims.auth_time });

      const logout = client.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: SIGNED_OUT, state: 'bye' });
      const session = await signIn(ts, user.username);
      const page = await session.fetch(String(logout));
      const html = await page.text();
      expect(page.status).toBe(200);
      expect(html).toContain('Sign out of Serika?');
      // The confirmation carries the hint: only with it does the sign-out end in a redirect (SPEC §7).
      expect(hiddenField(html, 'id_token_hint')).toBe(refreshed.id_token);
      const out = await session.fetch(`${ts.api}/oauth/end_session`, {
        form: { _csrf: hiddenField(html, '_csrf'), id_token_hint: hiddenField(html, 'id_token_hint'), client_id: clientId, post_logout_redirect_uri: SIGNED_OUT, state: 'bye', confirm: 'yes' },
      });
      expect(out.status).toBe(303);
      expect(out.headers.get('location')).toBe(`${SIGNED_OUT}?state=bye`);
      expect(session.cookies.has('serika_session')).toBe(false);
    });

    it("reads the user's profile claims with the code, as they are at redemption (no second read)", async () => {
      const { config } = await rpFor('RS256');
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      const callback = await frontChannel(ts, agent, url);
      const db = ts.services.storage.db;
      await db.updateTable('users').set({ email: 'ada.new@example.com', avatar: 'https://img.example.com/ada.png' }).where('id', '=', user.userId).execute();
      const users = ts.services.users;
      const findById = users.findById;
      let reads = 0;
      users.findById = async (id: string) => {
        reads++;
        return findById.call(users, id);
      };
      try {
        const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
        expect(tokens.claims()).toMatchObject({ sub: user.userId, preferred_username: user.username, email: 'ada.new@example.com', picture: 'https://img.example.com/ada.png' });
        expect(reads).toBe(0);
        // The positive anchor: the count sees a read where there is one. A refresh holds no profile, so its ID token reads the user.
        const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
        expect(refreshed.claims()).toMatchObject({ sub: user.userId, email: 'ada.new@example.com' });
        expect(reads).toBe(1);
      } finally {
        users.findById = findById;
        await db.updateTable('users').set({ email: 'ada@example.com', avatar: null }).where('id', '=', user.userId).execute();
      }
    });

    it('never follows an unregistered post_logout_redirect_uri, and signs out without one', async () => {
      const { clientId } = await rpFor('RS256');
      const evil = await agent.fetch(`${ts.api}/oauth/end_session?client_id=${clientId}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example.com/')}`);
      expect(evil.status).toBe(400);
      expect(evil.headers.get('location')).toBeNull();
      const anonymous = await new Agent(ts.url, ts.config.publicUrl).fetch(`${ts.api}/oauth/end_session`);
      expect(await anonymous.text()).toContain('You are signed out');
      // An RP's cross-site POST only shows the confirmation; nothing ends without our form's token.
      const posted = await agent.fetch(`${ts.api}/oauth/end_session`, { form: { client_id: clientId }, headers: { origin: 'https://rp.example.com', 'sec-fetch-site': 'cross-site' } });
      expect(posted.status).toBe(200);
      expect(await posted.text()).toContain('Sign out of Serika?');
      expect((await agent.fetch('/dashboard')).status).toBe(200);
    });

    it('end_session redirects only with a valid id_token_hint for that client, owned or registered; else "You are signed out" with a link', async () => {
      const endSession = (params: Record<string, string>) => new Agent(ts.url, ts.config.publicUrl).fetch(`${ts.api}/oauth/end_session?${new URLSearchParams(params)}`);
      const expectLinkPage = async (response: Response, href: string) => {
        expect(response.status).toBe(200);
        expect(response.headers.get('location')).toBeNull();
        const page = await response.text();
        expect(page).toContain('You are signed out');
        expect(page).toContain(`Return to ${new URL(href).host}`);
        expect(returnLink(page)!.href).toBe(href);
      };
      const expectRedirect = (response: Response, location: string) => {
        expect(response.status).toBe(303);
        expect(response.headers.get('location')).toBe(location);
      };
      // Anyone may register a post-logout URI (SPEC §8): the reproduction.
      const registered = await call('POST', `${ts.api}/oauth/register`, { json: { client_name: 'Phisher', redirect_uris: ['https://evil.example/cb'], post_logout_redirect_uris: ['https://evil.example/x'] } });
      expect(registered.status).toBe(201);
      const evil = registered.json.client_id as string;
      await expectLinkPage(await endSession({ client_id: evil, post_logout_redirect_uri: 'https://evil.example/x', state: 's 1' }), 'https://evil.example/x?state=s%201');
      await expectLinkPage(await endSession({ client_id: evil, post_logout_redirect_uri: 'https://evil.example/x' }), 'https://evil.example/x');
      // An owned client is no different without a hint.
      const { clientId } = await rpFor('RS256');
      await expectLinkPage(await endSession({ client_id: clientId, post_logout_redirect_uri: SIGNED_OUT, state: 'bye' }), `${SIGNED_OUT}?state=bye`);

      // A hint Serika signed for that client redirects, for either client; an expired one too
      // (RP-Initiated Logout 1.0 §2; node-oidc-provider's IdToken.validate ignores exp).
      const claims = { userId: user.userId, scopes: ['openid'], accessToken: 'x' };
      const hint = (forClient: string) => ts.services.idTokens.mint({ clientId: forClient, ...claims });
      const { signingKeys: keys, users } = ts.services;
      const expired = await new IdTokens({ keys, users, issuer: ts.config.publicUrl, ttlSeconds: 60, now: () => Date.now() - 3_600_000 }).mint({ clientId, ...claims });
      expect(JSON.parse(Buffer.from(expired.split('.')[1]!, 'base64url').toString()).exp * 1000).toBeLessThan(Date.now());
      expectRedirect(await endSession({ id_token_hint: await hint(clientId), post_logout_redirect_uri: SIGNED_OUT, state: 'bye' }), `${SIGNED_OUT}?state=bye`);
      expectRedirect(await endSession({ id_token_hint: expired, client_id: clientId, post_logout_redirect_uri: SIGNED_OUT }), SIGNED_OUT);
      // For a client nobody owns, a hint is any ID token its registrant ever got (their own sign-in):
      // it redirects only when it names the user being signed out.
      await expectLinkPage(await endSession({ id_token_hint: await hint(evil), post_logout_redirect_uri: 'https://evil.example/x', state: 'b' }), 'https://evil.example/x?state=b');
      const confirmOut = async (who: Agent, hintToken: string) => {
        const params = { id_token_hint: hintToken, post_logout_redirect_uri: 'https://evil.example/x', state: 'b' };
        const page = await (await who.fetch(`${ts.api}/oauth/end_session?${new URLSearchParams(params)}`)).text();
        return who.fetch(`${ts.api}/oauth/end_session`, { form: { _csrf: hiddenField(page, '_csrf'), ...params, confirm: 'yes' } });
      };
      const { user: registrant } = await userWithSession(ts);
      const registrantsHint = await ts.services.idTokens.mint({ clientId: evil, userId: registrant.userId, scopes: ['openid'], accessToken: 'x' });
      await expectLinkPage(await confirmOut(await signIn(ts, user.username), registrantsHint), 'https://evil.example/x?state=b');
      expectRedirect(await confirmOut(await signIn(ts, user.username), await hint(evil)), 'https://evil.example/x?state=b');

      // A hint for another client, or one Serika did not sign, never redirects.
      const mixed = await endSession({ id_token_hint: await hint(evil), client_id: clientId, post_logout_redirect_uri: SIGNED_OUT });
      expect(mixed.status).toBe(400);
      expect(mixed.headers.get('location')).toBeNull();
      const crossed = await endSession({ id_token_hint: await hint(clientId), post_logout_redirect_uri: 'https://evil.example/x' });
      expect(crossed.status).toBe(400);
      expect(crossed.headers.get('location')).toBeNull();
      const { privateKey } = await generateKeyPair('RS256');
      const forged = await new SignJWT({ sub: user.userId })
        .setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(await hint(clientId)).kid! })
        .setIssuer(ts.config.publicUrl)
        .setAudience(clientId)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey);
      const refused = await endSession({ id_token_hint: forged, post_logout_redirect_uri: SIGNED_OUT });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('location')).toBeNull();
      expect(await refused.text()).toContain('id_token_hint is not an ID token Serika issued.');
    });

    it('signed in without a hint: the user confirms, is signed out and gets a link; session.ended is audited', async () => {
      const { clientId } = await rpFor('RS256');
      const ended = async () => (await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended');
      const before = (await ended()).length;
      const session = await signIn(ts, user.username);
      const page = await session.fetch(`${ts.api}/oauth/end_session?${new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: SIGNED_OUT, state: 'bye' })}`);
      const html = await page.text();
      expect(html).toContain('Sign out of Serika?');
      expect(html).not.toContain('name="id_token_hint"');
      const out = await session.fetch(`${ts.api}/oauth/end_session`, {
        form: { _csrf: hiddenField(html, '_csrf'), client_id: clientId, post_logout_redirect_uri: SIGNED_OUT, state: 'bye', confirm: 'yes' },
      });
      expect(out.status).toBe(200);
      expect(out.headers.get('location')).toBeNull();
      const signedOut = await out.text();
      expect(signedOut).toContain('You are signed out');
      expect(returnLink(signedOut)!.href).toBe(`${SIGNED_OUT}?state=bye`);
      expect(session.cookies.has('serika_session')).toBe(false);
      const events = await ended();
      expect(events).toHaveLength(before + 1);
      expect(events[0]).toMatchObject({ type: 'session.ended', userId: user.userId, clientId, ip: expect.any(String) });
    });

    it('prompt=login and max_age=0 ask for a fresh sign-in even with a session, and auth_time moves forward', async () => {
      const owner = await seedUser(ts);
      const rp = await registerClient(ts, owner, { scopes: ['profile'] });
      const signedIn = await signIn(ts, user.username);
      // Without a session, prompt=login takes one sign-in, not two (the sign-in it asks for is the fresh one).
      const cases = [
        { extra: { prompt: 'login' }, fresh: signedIn },
        { extra: { max_age: '0' }, fresh: signedIn },
        { extra: { prompt: 'login' }, fresh: new Agent(ts.url, ts.config.publicUrl) },
      ];
      for (const { extra, fresh } of cases) {
        const { verifier, challenge } = pkce();
        const first = await fresh.fetch(authorizeUrl(ts, standardParams(rp, challenge, { scope: 'openid profile', prompt: 'consent', ...extra })));
        expect(first.status).toBe(303);
        const login = new URL(first.headers.get('location')!, ts.url);
        expect(login.pathname).toBe('/login');
        const loginPage = await fresh.fetch(login.pathname + login.search);
        expect(loginPage.status).toBe(200);
        const before = Date.now();
        const again = await fresh.fetch('/login', { form: { _csrf: hiddenField(await loginPage.text(), '_csrf'), username: user.username, password: PASSWORD, return_to: login.searchParams.get('return_to')! } });
        expect(again.status).toBe(303);
        const callback = await frontChannel(ts, fresh, new URL(again.headers.get('location')!, ts.url));
        const code = callback.searchParams.get('code')!;
        const tokens = await call('POST', `${ts.api}/oauth/token`, {
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri, code_verifier: verifier, client_id: rp.clientId, client_secret: rp.clientSecret! }).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        const payload = JSON.parse(Buffer.from(tokens.json.id_token.split('.')[1], 'base64url').toString());
        expect(payload.auth_time * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      }
    });

    it('prompt=none: login_required without a session, and with another user\'s id_token_hint', async () => {
      const owner = await seedUser(ts);
      const rp = await registerClient(ts, owner, { scopes: ['profile'] });
      const anonymous = new Agent(ts.url, ts.config.publicUrl);
      const none = await anonymous.fetch(authorizeUrl(ts, standardParams(rp, pkce().challenge, { scope: 'openid', prompt: 'none' })));
      expect(new URL(none.headers.get('location')!).searchParams.get('error')).toBe('login_required');

      const other = await seedUser(ts);
      const hint = await ts.services.idTokens.mint({ clientId: rp.clientId, userId: other.userId, scopes: ['openid'], accessToken: 'x' });
      const mismatch = await agent.fetch(authorizeUrl(ts, standardParams(rp, pkce().challenge, { scope: 'openid', prompt: 'none', id_token_hint: hint })));
      expect(new URL(mismatch.headers.get('location')!).searchParams.get('error')).toBe('login_required');
    });

    it.each([
      ['{ max_age: "-1" }', { max_age: '-1' }, 'invalid_request'],
      ['{ max_age: "abc" }', { max_age: 'abc' }, 'invalid_request'],
      ['{ prompt: "select_account" }', { prompt: 'select_account' }, 'invalid_request'],
      ['{ prompt: "none consent" }', { prompt: 'none consent' }, 'invalid_request'],
      ['a 3000-character nonce', { nonce: 'n'.repeat(3000) }, 'invalid_request'],
      ['{ request: "eyJhbGciOiJub25lIn0.e30." }', { request: 'eyJhbGciOiJub25lIn0.e30.' }, 'request_not_supported'],
      ['{ request_uri: "https://rp.example.com/request.jwt" }', { request_uri: 'https://rp.example.com/request.jwt' }, 'request_uri_not_supported'],
      ['{ id_token_hint: "not-a-token" }', { id_token_hint: 'not-a-token' }, 'invalid_request'],
    ])('answers %s with %s by redirect, never a 5xx', async (_label, extra: Record<string, string>, error) => {
      const owner = await seedUser(ts);
      const rp = await registerClient(ts, owner, { scopes: ['profile'] });
      const response = await agent.fetch(authorizeUrl(ts, standardParams(rp, pkce().challenge, { scope: 'openid', ...extra })));
      expect(response.status).toBe(303);
      const location = new URL(response.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe(error);
      expect(location.searchParams.get('state')).toBe('state-123');
    });

    it('sets the ID token alg and post-logout redirect URIs from the dashboard form, judged by the API schema', async () => {
      const page = await (await agent.fetch('/dashboard/clients')).text();
      expect(page).toContain('ID token signing algorithm');
      const created = await agent.fetch('/dashboard/clients', {
        form: { _csrf: hiddenField(page, '_csrf'), name: 'Form RP', redirect_uri: REDIRECT, scope: 'profile', type: 'confidential', id_token_signing_alg: 'ES256', post_logout_redirect_uris: `${SIGNED_OUT}\nhttps://rp.example.com/bye` },
      });
      expect(created.status).toBe(201);
      const listed = (await call('GET', `${ts.api}/oauth/clients`, { key: user.key })).json.data.find((c: { name: string }) => c.name === 'Form RP');
      expect(listed).toMatchObject({ idTokenSigningAlg: 'ES256', postLogoutRedirectUris: [SIGNED_OUT, 'https://rp.example.com/bye'] });
      const bad = await agent.fetch('/dashboard/clients', {
        form: { _csrf: hiddenField(page, '_csrf'), name: 'Bad RP', redirect_uri: REDIRECT, scope: 'profile', id_token_signing_alg: 'HS256' },
      });
      expect(bad.status).toBe(400);
    });

    it('accepts offline_access and ignores it; openid needs no registration, email does', async () => {
      const owner = await seedUser(ts);
      const rp = await registerClient(ts, owner, { scopes: ['profile'] });
      const ok = await agent.fetch(authorizeUrl(ts, standardParams(rp, pkce().challenge, { scope: 'openid offline_access' })));
      expect(ok.status).toBe(200);
      const refused = await agent.fetch(authorizeUrl(ts, standardParams(rp, pkce().challenge, { scope: 'openid email' })));
      expect(new URL(refused.headers.get('location')!).searchParams.get('error')).toBe('invalid_scope');
    });
  });
});
