import { mkdirSync } from 'node:fs';
import * as oauth from 'oauth4webapi';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { PASSWORD, registerClient, type TestClient } from '../helpers/oauth.js';
import { seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.skipIf(!HAVE_CHROMIUM)('authorization code + PKCE in a real browser, redeemed by oauth4webapi', () => {
  let ts: TestServer;
  let browser: Browser;
  let app: CallbackServer;
  let owner: Seeded;
  let endUser: Seeded;
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    ts = await startTestServer('sqlite');
    browser = await launchBrowser();
    app = await startCallbackServer();
    owner = await seedUser(ts, 'app_developer');
    endUser = await seedUser(ts, 'end_user');
    const issuer = new URL(ts.config.publicUrl);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await ts?.close();
  });

  interface Started {
    page: Page;
    state: string;
    verifier: string;
    redirectUri: string;
  }

  /** Opens the authorize URL the way an app would build it. */
  async function start(context: BrowserContext, client: TestClient, extra: Record<string, string> = {}): Promise<Started> {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    // A loopback redirect URI registered without a port: the app picks one at run time (RFC 8252 §7.3).
    const redirectUri = `${app.origin}/callback`;
    const url = new URL(as.authorization_endpoint!);
    for (const [k, v] of Object.entries({
      client_id: client.clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'profile generations',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    })) {
      url.searchParams.set(k, v);
    }
    const page = await context.newPage();
    await page.goto(url.toString());
    return { page, state, verifier, redirectUri };
  }

  async function signInOnPage(page: Page) {
    await page.getByLabel('Username').fill(endUser.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  async function decideOnPage(page: Page, button: 'Allow' | 'Deny', shot?: string) {
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    if (shot) await page.screenshot({ path: `test-results/${shot}.png`, fullPage: true });
    const callback = app.next();
    await page.getByRole('button', { name: button }).click();
    return callback;
  }

  async function redeem(client: TestClient, auth: oauth.ClientAuth, callback: URL, started: Started) {
    const c: oauth.Client = { client_id: client.clientId };
    const params = oauth.validateAuthResponse(as, c, callback, started.state);
    const response = await oauth.authorizationCodeGrantRequest(as, c, auth, params, started.redirectUri, started.verifier, insecure);
    return oauth.processAuthorizationCodeResponse(as, c, response);
  }

  it('confidential client: authorize → login → consent Allow → callback → code exchanged (client_secret_post)', async () => {
    const client = await registerClient(ts, owner, { name: 'Browser Writer', redirectUris: ['http://127.0.0.1/callback'] });
    const context = await browser.newContext();
    const started = await start(context, client);
    await started.page.waitForURL(/\/login\?return_to=/);
    await started.page.screenshot({ path: 'test-results/login.png', fullPage: true });
    await signInOnPage(started.page);
    expect(await started.page.getByRole('heading', { level: 1 }).textContent()).toContain('Browser Writer');
    expect(await started.page.content()).toContain('app_developer');
    const callback = await decideOnPage(started.page, 'Allow', 'consent');
    expect(callback.searchParams.get('iss')).toBe(ts.config.publicUrl);
    const tokens = await redeem(client, oauth.ClientSecretPost(client.clientSecret!), callback, started);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toMatch(/^serika_at_/);
    expect(tokens.refresh_token).toMatch(/^serika_rt_/);
    expect(tokens.scope).toBe('profile generations');
    expect(tokens.expires_in).toBe(3600);

    // With the grant stored, the next authorization skips the page entirely…
    const callbackAgain = app.next();
    const again = await start(context, client);
    const skipped = await callbackAgain;
    const second = await redeem(client, oauth.ClientSecretBasic(client.clientSecret!), skipped, again);
    expect(second.access_token).toMatch(/^serika_at_/);

    // …unless the app asks with prompt=consent.
    const asked = await start(context, client, { prompt: 'consent' });
    const consented = await decideOnPage(asked.page, 'Allow');
    expect((await redeem(client, oauth.ClientSecretBasic(client.clientSecret!), consented, asked)).access_token).toMatch(/^serika_at_/);

    // The rest of the lifecycle through the same library: refresh, userinfo, introspect, revoke.
    const c: oauth.Client = { client_id: client.clientId };
    const auth = oauth.ClientSecretBasic(client.clientSecret!);
    const refreshed = await oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, auth, tokens.refresh_token!, insecure));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    const me = await oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(as.userinfo_endpoint!), undefined, undefined, insecure);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ id: endUser.userId, username: endUser.username, avatar: null });
    const introspected = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, refreshed.access_token, insecure));
    expect(introspected).toMatchObject({ active: true, client_id: client.clientId, username: endUser.username, sub: endUser.userId, scope: 'profile generations' });
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, c, auth, refreshed.refresh_token!, insecure));
    const after = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, refreshed.access_token, insecure));
    expect(after).toEqual({ active: false });
    // oauth4webapi turns the RFC 6750 challenge into an error carrying the parsed parameters.
    const refused = await oauth
      .protectedResourceRequest(refreshed.access_token, 'GET', new URL(as.userinfo_endpoint!), undefined, undefined, insecure)
      .then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = (refused as oauth.WWWAuthenticateChallengeError).cause[0]!;
    expect(challenge.scheme).toBe('bearer');
    expect(challenge.parameters.error).toBe('invalid_token');
    expect((refused as oauth.WWWAuthenticateChallengeError).response.status).toBe(401);
    await context.close();
  });

  it('Deny: the app receives access_denied with its state and iss, and no code', async () => {
    const client = await registerClient(ts, owner, { name: 'Denied App', redirectUris: ['http://127.0.0.1/callback'] });
    const context = await browser.newContext();
    const started = await start(context, client);
    await signInOnPage(started.page);
    const callback = await decideOnPage(started.page, 'Deny');
    expect(callback.searchParams.get('code')).toBeNull();
    expect(callback.searchParams.get('state')).toBe(started.state);
    let error: unknown;
    try {
      oauth.validateAuthResponse(as, { client_id: client.clientId }, callback, started.state);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(oauth.AuthorizationResponseError);
    expect((error as oauth.AuthorizationResponseError).error).toBe('access_denied');
    await context.close();
  });

  it('public client: always asked, even with a stored grant; redeemed with PKCE alone', async () => {
    const client = await registerClient(ts, owner, { name: 'CLI Tool', public: true, redirectUris: ['http://127.0.0.1/callback'] });
    const context = await browser.newContext();
    const first = await start(context, client);
    await signInOnPage(first.page);
    const cb1 = await decideOnPage(first.page, 'Allow');
    expect((await redeem(client, oauth.None(), cb1, first)).access_token).toMatch(/^serika_at_/);
    const second = await start(context, client);
    const cb2 = await decideOnPage(second.page, 'Allow');
    expect((await redeem(client, oauth.None(), cb2, second)).refresh_token).toMatch(/^serika_rt_/);
    await context.close();
  });

  it('a bad redirect URI shows an error page in the browser, never a redirect', async () => {
    const client = await registerClient(ts, owner, { redirectUris: ['http://127.0.0.1/callback'] });
    const context = await browser.newContext();
    const page = await context.newPage();
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set('client_id', client.clientId);
    url.searchParams.set('redirect_uri', 'https://evil.example.com/steal');
    const response = await page.goto(url.toString());
    expect(response?.status()).toBe(400);
    expect(page.url()).toBe(url.toString());
    expect(await page.content()).toContain('invalid_request');
    await page.screenshot({ path: 'test-results/authorize-error.png', fullPage: true });
    await context.close();
  });
});
