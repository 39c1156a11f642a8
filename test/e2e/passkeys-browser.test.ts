import { mkdirSync } from 'node:fs';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MULTI_FACTOR_ACR } from '../../src/accounts/auth-methods.js';
import { freePort } from '../../src/server.js';
import { HAVE_CHROMIUM, launchBrowser, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

interface Device {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
  requests: string[];
}

/**
 * A browser whose device has a platform authenticator: discoverable credentials, user verification that
 * passes, the user's touch simulated. The virtual authenticator answers the username field's quiet
 * (conditional) request on its own, so unless `autofill`, the browser says it has no such autofill and
 * only the buttons ask.
 */
async function newDevice(browser: Browser, options: { autofill?: boolean } = {}): Promise<Device> {
  const context = await browser.newContext();
  if (!options.autofill) await context.addInitScript('PublicKeyCredential.isConditionalMediationAvailable = async () => false;');
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  return { context, page, cdp, authenticatorId, requests };
}

/**
 * SPEC §11 passkeys, end to end: Chromium with a virtual authenticator (DevTools protocol, WebAuthn domain)
 * as the user's device, openid-client as the app reading the ID token. PUBLIC_URL is http://localhost:…
 * (a secure context, and a host name: WebAuthn takes no IP address as an RP ID). The tests run in order,
 * on one user and one device that keeps its passkey from test to test.
 */
describe.skipIf(!HAVE_CHROMIUM)('passkeys in a real browser', { timeout: 60_000 }, () => {
  let ts: TestServer;
  let base: string;
  let browser: Browser;
  let app: CallbackServer;
  let user: Seeded;
  let rp: oidc.Configuration;
  let mine: Device;
  const redirectUri = () => `${app.origin}/callback`;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    const port = await freePort('127.0.0.1');
    base = `http://localhost:${port}`;
    ts = await startTestServer('sqlite', { PORT: String(port), PUBLIC_URL: base });
    browser = await launchBrowser();
    app = await startCallbackServer();
    user = await seedUser(ts, 'passkey_user');
    const registered = await call('POST', `${ts.api}/oauth/clients`, { key: user.key, json: { name: 'Passkey RP', redirectUris: [redirectUri()], scopes: ['profile'] } });
    rp = await oidc.discovery(new URL(base), registered.json.clientId, undefined, oidc.ClientSecretPost(registered.json.clientSecret), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => {
    await mine?.context.close();
    await browser?.close();
    await app?.close();
    await ts?.close();
  });

  const signInWithPassword = async (page: Page) => {
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  /** An authorization request of the app; `signIn` signs in on the page it lands on. The ID token's claims. */
  const authorize = async (page: Page, signIn: () => Promise<void>) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri(), scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', nonce });
    const callback = app.next();
    await page.goto(url.href);
    await signIn();
    // The first time the app is asked for, the consent page; afterwards the grant is reused.
    const allow = page.getByRole('button', { name: 'Allow' });
    const landed = await Promise.race([callback, allow.waitFor({ timeout: 15_000 }).then(() => null)]);
    if (landed === null) await allow.click();
    const tokens = await oidc.authorizationCodeGrant(rp, await callback, { pkceCodeVerifier: verifier, expectedNonce: nonce });
    return tokens.claims()!;
  };

  const events = async (type: string) =>
    (await ts.services.storage.db.selectFrom('audit_events').select(['detail']).where('user_id', '=', user.userId).where('type', '=', type).orderBy('created_at').execute()).map(
      (e) => JSON.parse(e.detail ?? '{}') as Record<string, unknown>,
    );

  it('adds a passkey on Account, then signs in with "Sign in with a passkey" alone: amr ["pop","mfa"], the multi-factor acr, no request leaves Serika', async () => {
    mine = await newDevice(browser);
    const { page, requests } = mine;
    await page.goto(`${base}/login`);
    await signInWithPassword(page);
    await page.waitForURL(`${base}/dashboard`);
    await page.goto(`${base}/dashboard/account`);
    await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
    // SPEC §11: "Add a passkey" (a name): a session signed in a minute ago is asked nothing more.
    expect(await page.getByLabel('Password or current code').count()).toBe(0);
    await page.getByLabel('Passkey name').fill('Test laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(/passkeys=first/);
    expect(await page.getByRole('status').first().textContent()).toContain('Your other sessions were signed out');
    const cells = page.locator('#passkeys tbody tr td');
    expect(await page.locator('#passkeys tbody tr').count()).toBe(1);
    expect(await cells.first().textContent()).toBe('Test laptop');
    expect(await cells.nth(2).textContent()).toBe('never');
    await page.screenshot({ path: 'test-results/passkeys-account.png', fullPage: true });
    const stored = await mine.cdp.send('WebAuthn.getCredentials', { authenticatorId: mine.authenticatorId });
    expect(stored.credentials).toHaveLength(1);
    expect(stored.credentials[0]!.isResidentCredential).toBe(true);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/login`);
    const claims = await authorize(page, async () => {
      await page.waitForURL(/\/login\?return_to=/);
      await page.screenshot({ path: 'test-results/passkeys-login.png', fullPage: true });
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    });
    expect(claims.sub).toBe(user.userId);
    expect(claims.amr).toEqual(['pop', 'mfa']);
    expect(claims.acr).toBe(MULTI_FACTOR_ACR);

    await page.goto(`${base}/dashboard/account`);
    expect(await cells.nth(2).textContent()).not.toBe('never');
    await page.goto(`${base}/dashboard/activity`);
    const activity = await page.locator('main').textContent();
    expect(activity).toContain('Second factor added: passkey “Test laptop”');
    expect(activity).toContain('Signed in with a passkey');
    // Serika's pages and the app's callback, nothing else (the WebAuthn library is served by Serika).
    expect(requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith(`${app.origin}/callback`))).toEqual([]);
  });

  it('the username field offers the passkey (conditional mediation): chosen, it signs in with no password', async () => {
    const other = await newDevice(browser, { autofill: true });
    const { credentials } = await mine.cdp.send('WebAuthn.getCredentials', { authenticatorId: mine.authenticatorId });
    // The same passkey, synced to a second browser.
    await other.cdp.send('WebAuthn.addCredential', { authenticatorId: other.authenticatorId, credential: credentials[0]! });
    await other.page.goto(`${base}/login`);
    // The virtual authenticator picks the passkey from the field's offer at once, as a user's click would.
    await other.page.waitForURL(`${base}/dashboard`);
    expect(await other.page.locator('header.top').textContent()).toContain(`Signed in as ${user.username}`);
    // Each use moved the key's signature counter on; the first device takes the copy back, counter and all
    // (else its next use would show a counter that went backwards, the sign of a cloned key, and be refused).
    const used = (await other.cdp.send('WebAuthn.getCredentials', { authenticatorId: other.authenticatorId })).credentials[0]!;
    expect(used.signCount).toBeGreaterThan(credentials[0]!.signCount);
    await mine.cdp.send('WebAuthn.removeCredential', { authenticatorId: mine.authenticatorId, credentialId: used.credentialId });
    await mine.cdp.send('WebAuthn.addCredential', { authenticatorId: mine.authenticatorId, credential: used });
    await other.context.close();
  });

  it('a browser whose device holds no passkey for Serika cannot sign in with one', async () => {
    const stranger = await newDevice(browser);
    await stranger.page.goto(`${base}/login`);
    expect(await stranger.page.getByLabel('Username').getAttribute('autocomplete')).toBe('username webauthn');
    await stranger.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const status = stranger.page.locator('[data-passkey-status]');
    await status.waitFor({ state: 'visible' });
    expect(await status.textContent()).toContain('passkey');
    expect(stranger.page.url()).toBe(`${base}/login`);
    await stranger.page.goto(`${base}/dashboard`);
    await stranger.page.waitForURL(/\/login/);
    await stranger.context.close();
  });

  it('takes the passkey as the second step after the password: amr ["pwd","pop","mfa"]', async () => {
    const { page } = mine;
    await page.goto(`${base}/dashboard`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/login`);
    await signInWithPassword(page);
    await page.waitForURL(`${base}/login/verify`);
    // The user's one factor is a passkey: its prompt, no code field.
    expect(await page.getByLabel('Authentication code').count()).toBe(0);
    await page.screenshot({ path: 'test-results/passkeys-verify.png', fullPage: true });
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/dashboard`);
    const claims = await authorize(page, async () => {});
    expect(claims.amr).toEqual(['pwd', 'pop', 'mfa']);
    expect(claims.acr).toBe(MULTI_FACTOR_ACR);
    expect((await events('sign_in.succeeded')).at(-1)).toMatchObject({ amr: 'pwd pop mfa', factor: 'passkey' });
  });

  it('an admin whose one factor is this passkey passes the admin re-authentication with it (SPEC §12)', async () => {
    const { page } = mine;
    await ts.services.userAdmin.setRole(user.userId, 'admin', null);
    try {
      await page.goto(`${base}/admin/users`);
      await page.waitForURL(/\/admin\/reauth/);
      expect(await page.getByLabel('Password').count()).toBe(0);
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.waitForURL(`${base}/admin/users`);
      expect((await events('admin.reauthenticated')).at(-1)).toMatchObject({ factor: 'passkey' });
    } finally {
      await ts.services.userAdmin.setRole(user.userId, 'user', null);
    }
  });

  it('removes the passkey (with the password): it no longer signs in', async () => {
    const { page } = mine;
    await page.goto(`${base}/dashboard/account`);
    await page.getByRole('link', { name: 'Remove passkey Test laptop' }).click();
    await page.getByRole('heading', { name: 'Remove passkey' }).waitFor();
    await page.getByLabel('Current code or password').fill('not the password');
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Current code or password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.waitForURL(/passkeys=removed/);
    expect(await page.locator('#passkeys tbody tr').count()).toBe(0);
    expect(await events('second_factor.removed')).toEqual([{ factor: 'passkey', name: 'Test laptop' }]);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/login`);
    // The device still holds the key; Serika no longer knows it.
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/login/passkey`);
    expect(await page.getByRole('alert').first().textContent()).toContain('That passkey could not sign you in');
    // A key Serika does not hold names no account: the failure is the address's alone.
    const failed = await ts.services.storage.db.selectFrom('audit_events').select(['user_id', 'detail']).where('type', '=', 'sign_in.failed').orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    expect(failed.user_id).toBeNull();
    expect(JSON.parse(failed.detail!)).toEqual({ factor: 'passkey', refused: 'credential' });
    await page.goto(`${base}/dashboard`);
    await page.waitForURL(/\/login/);
  });

  it('without JavaScript the passkey forms are absent and the password signs in', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).count()).toBe(0);
    await signInWithPassword(page);
    await page.waitForURL(`${base}/dashboard`);
    await page.goto(`${base}/dashboard/account`);
    expect(await page.getByRole('button', { name: 'Add a passkey' }).count()).toBe(0);
    await context.close();
  });
});

describe.skipIf(!HAVE_CHROMIUM)('MFA=required set up with a passkey in a real browser', () => {
  let ts: TestServer;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    const port = await freePort('127.0.0.1');
    base = `http://localhost:${port}`;
    ts = await startTestServer('sqlite', { PORT: String(port), PUBLIC_URL: base, MFA: 'required' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('a user without a factor adds a passkey instead of an authenticator app, and is signed in with both methods', async () => {
    const user = await seedUser(ts, 'mfa_passkey_user');
    const { context, page } = await newDevice(browser);
    try {
      await page.goto(`${base}/login`);
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(`${base}/login/two-factor`);
      await page.getByLabel('Passkey name').fill('Enrolled laptop');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.waitForURL(`${base}/dashboard`);
      const db = ts.services.storage.db;
      expect(await db.selectFrom('webauthn_credentials').select('name').where('user_id', '=', user.userId).execute()).toEqual([{ name: 'Enrolled laptop' }]);
      const signedIn = await db.selectFrom('audit_events').select('detail').where('user_id', '=', user.userId).where('type', '=', 'sign_in.succeeded').executeTakeFirstOrThrow();
      expect(JSON.parse(signedIn.detail!)).toMatchObject({ amr: 'pwd pop mfa', factor: 'passkey' });
      // From now on the passkey is the second step after the password.
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/login`);
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(`${base}/login/verify`);
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.waitForURL(`${base}/dashboard`);
    } finally {
      await context.close();
    }
  });
});
