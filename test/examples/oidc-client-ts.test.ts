import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/oauth.js';
import { relyingParty } from './run-example.js';

describe.skipIf(!HAVE_CHROMIUM)('examples/oidc-client-ts (a single-page app, oidc-client-ts unchanged) in Chromium against a started Serika', () => {
  const rp = relyingParty('examples/oidc-client-ts/serve.mjs', { name: 'SPA', public: true, redirectPath: '/callback', postLogoutPath: '/signed-out' });
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(() => browser?.close());

  it('signs in with code + PKCE cross-origin, shows the ID token claims and userinfo, refreshes, revokes and signs out', async () => {
    const { ts, user, appUrl, clientId } = rp;
    const page = await browser.newPage();
    // What the library sent to Serika's token and revocation endpoints, and what came back.
    const backChannel: string[] = [];
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (/\/oauth\/(token|revoke)$/.test(url.pathname)) backChannel.push(`${url.pathname.split('/').pop()} ${new URLSearchParams(response.request().postData() ?? '').get('grant_type') ?? new URLSearchParams(response.request().postData() ?? '').get('token_type_hint')} ${response.status()}`);
    });
    const status = () => page.locator('#status');
    const shown = async () => JSON.parse((await page.textContent('#user')) ?? '{}');
    await page.goto(appUrl);
    await expect.poll(() => status().textContent()).toBe('Signed out');
    await page.getByRole('button', { name: 'Sign in with Serika' }).click();
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await expect.poll(() => status().textContent(), { timeout: 10_000 }).toBe(`Signed in as ${user.username}`);
    expect(page.url()).toBe(`${appUrl}/`);
    const signedIn = await shown();
    // The ID token's claims (less the protocol ones the library filters out), merged with userinfo (loadUserInfo).
    expect(signedIn.profile).toMatchObject({ iss: ts.config.publicUrl, sub: user.userId, aud: clientId, preferred_username: user.username, name: user.username, id: user.userId, username: user.username });
    expect(signedIn).toMatchObject({ scope: 'openid profile', refresh: true });

    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => status().textContent()).toBe('Refreshed');
    expect((await shown()).profile).toMatchObject({ sub: user.userId, preferred_username: user.username });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign out of Serika?' }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await expect.poll(() => status().textContent()).toBe('Signed out');
    expect(page.url()).toBe(`${appUrl}/`);
    expect(backChannel).toEqual(['token authorization_code 200', 'token refresh_token 200', 'revoke access_token 200', 'revoke refresh_token 200']);
  });
});
