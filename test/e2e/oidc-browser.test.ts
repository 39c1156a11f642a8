import { mkdirSync } from 'node:fs';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

describe.skipIf(!HAVE_CHROMIUM)('Sign in with Serika in a real browser, openid-client v6 as the relying party', () => {
  let ts: TestServer;
  let browser: Browser;
  let app: CallbackServer;
  let user: Seeded;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    ts = await startTestServer('sqlite');
    browser = await launchBrowser();
    app = await startCallbackServer();
    user = await seedUser(ts, 'oidc_user');
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await ts?.close();
  });

  it('discovers by issuer, signs in on the pages with PKCE + nonce, verifies the ID token, reads userinfo, refreshes and signs out', async () => {
    const redirectUri = `${app.origin}/callback`;
    const registered = await call('POST', `${ts.api}/oauth/clients`, {
      key: user.key,
      json: { name: 'Browser RP', redirectUris: [redirectUri], scopes: ['profile'], postLogoutRedirectUris: [`${app.origin}/callback?signed-out`] },
    });
    const config = await oidc.discovery(new URL(ts.config.publicUrl), registered.json.clientId, undefined, oidc.ClientSecretPost(registered.json.clientSecret), {
      execute: [oidc.allowInsecureRequests],
    });
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      state,
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor({ timeout: 5000 });
    expect(await page.content()).toContain('Sign you in with your Serika account');
    await page.screenshot({ path: 'test-results/oidc-consent.png', fullPage: true });
    const callback = app.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    const tokens = await oidc.authorizationCodeGrant(config, await callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
    expect(tokens.claims()).toMatchObject({ sub: user.userId, preferred_username: user.username, nonce });
    expect((await oidc.fetchUserInfo(config, tokens.access_token, user.userId)).sub).toBe(user.userId);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(user.userId);

    const signedOut = app.next();
    await page.goto(oidc.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: `${app.origin}/callback?signed-out`, state: 'bye' }).href);
    await page.getByRole('heading', { name: 'Sign out of Serika?' }).waitFor();
    await page.screenshot({ path: 'test-results/oidc-logout.png', fullPage: true });
    // One "Sign out" (the confirmation's, which keeps the app's return), the header still naming the user.
    const signOut = page.getByRole('button', { name: 'Sign out', exact: true });
    expect(await signOut.count()).toBe(1);
    expect(await page.locator('header.top').textContent()).toContain(`Signed in as ${user.username}`);
    await signOut.click();
    const landed = await signedOut;
    expect(landed.search).toBe('?signed-out&state=bye');
    await context.close();
  });
});
