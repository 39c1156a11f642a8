import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { Agent, PASSWORD, obtainCode, signIn, tokenRequest, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

describe.skipIf(!HAVE_CHROMIUM)('the dashboard in a real browser', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dev: Seeded;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, RATE_LIMIT_LOGIN: '0' });
    browser = await launchBrowser();
    dev = await seedUser(ts, 'dashboard_dev');
    context = await browser.newContext({ viewport: DESKTOP });
    page = await context.newPage();
    await page.goto(`${ts.url}/dashboard`);
    await page.getByLabel('Username').fill(dev.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/dashboard$/);
  });
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
    await up?.close();
  });

  /** Screenshots at desktop and phone width, for the closing review. */
  async function shoot(p: Page, name: string) {
    await p.setViewportSize(DESKTOP);
    await p.screenshot({ path: `test-results/dashboard-${name}-desktop.png`, fullPage: true });
    await p.setViewportSize(PHONE);
    await p.screenshot({ path: `test-results/dashboard-${name}-phone.png`, fullPage: true });
    await p.setViewportSize(DESKTOP);
  }

  async function clientSecretOnPage(p: Page): Promise<string> {
    return ((await p.locator('#client-secret').textContent()) ?? '').trim();
  }

  it('1. API keys: create (shown once with copy and warning), list, revoke with a confirmation', async () => {
    await shoot(page, 'overview');
    await page.getByRole('link', { name: 'API keys' }).first().click();
    await page.getByLabel('Name').fill('laptop');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = ((await page.locator('#new-key').textContent()) ?? '').trim();
    expect(key).toMatch(/^sk-serika-/);
    await expect(page.getByText('cannot be shown again').isVisible()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Copy' }).isVisible()).resolves.toBe(true);
    const row = page.locator('tr', { hasText: 'laptop' });
    await expect(row.textContent()).resolves.toContain(key.slice(0, 18));
    await shoot(page, 'keys');
    expect((await call('GET', `${ts.api}/oauth/clients`, { key })).status).toBe(200);
    // The key is shown once: the list never holds it again.
    await page.goto(`${ts.url}/dashboard/keys`);
    expect(await page.content()).not.toContain(key);
    await expect(page.locator('tr', { hasText: 'laptop' }).textContent()).resolves.toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/);

    await page.getByRole('link', { name: 'Revoke laptop' }).click();
    await shoot(page, 'keys-revoke-confirm');
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await page.waitForURL(/\/dashboard\/keys$/);
    expect((await call('GET', `${ts.api}/oauth/clients`, { key })).status).toBe(401);
  });

  let uiClient: TestClient;

  it('2. OAuth clients: validated form, secret once, client page with ID, authorize URL and user count; a flow completes', async () => {
    await page.goto(`${ts.url}/dashboard/clients`);
    await page.getByLabel('Name', { exact: true }).fill('UI Writer');
    await page.getByLabel('Redirect URI 1', { exact: true }).fill('http://evil.example.com/cb');
    await page.getByRole('button', { name: 'Add another redirect URI' }).click();
    await page.getByRole('button', { name: 'Add another redirect URI' }).click();
    await page.getByLabel('Redirect URI 3', { exact: true }).fill('https://ui.example.com/two');
    await page.getByRole('button', { name: 'Remove redirect URI 2' }).click();
    await page.getByLabel(/generations/).check();
    await page.getByRole('button', { name: 'Create client' }).click();
    // The API's own rule, shown beside the field.
    const error = page.locator('#redirect_uri-error');
    await expect(error.textContent()).resolves.toContain('must use https');
    await shoot(page, 'clients-error');
    await page.getByLabel('Redirect URI 1', { exact: true }).fill('https://ui.example.com/callback');
    await page.getByRole('button', { name: 'Create client' }).click();
    const secret = await clientSecretOnPage(page);
    expect(secret).toMatch(/^secret_/);
    await expect(page.getByText('cannot be shown again').isVisible()).resolves.toBe(true);
    const clientId = ((await page.locator('#client-id').textContent()) ?? '').trim();
    const authorizeUrl = ((await page.locator('#authorize-url').textContent()) ?? '').trim();
    expect(authorizeUrl).toContain(`client_id=${clientId}`);
    expect(authorizeUrl).toContain('redirect_uri=https%3A%2F%2Fui.example.com%2Fcallback');
    expect(authorizeUrl).toContain('scope=profile%20generations');
    await expect(page.locator('[data-authorized-count]').textContent()).resolves.toBe('0');
    await shoot(page, 'client-created');
    const viaApi = await call('GET', `${ts.api}/oauth/clients/${clientId}`, { key: dev.key });
    expect(viaApi.json).toMatchObject({ name: 'UI Writer', redirectUris: ['https://ui.example.com/callback', 'https://ui.example.com/two'], scopes: ['profile', 'generations'], public: false });

    uiClient = { clientId, clientSecret: secret, redirectUri: 'https://ui.example.com/callback', scopes: ['profile', 'generations'] };
    const endUser = await seedUser(ts, 'ui_end_user');
    const agent = await signIn(ts, endUser.username);
    const { code, verifier } = await obtainCode(ts, agent, uiClient, { scope: 'profile generations' });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: uiClient.redirectUri, code_verifier: verifier, client_id: clientId, client_secret: secret });
    expect(tokens.status).toBe(200);
    await page.goto(`${ts.url}/dashboard/clients/${clientId}`);
    await expect(page.locator('[data-authorized-count]').textContent()).resolves.toBe('1');
    await shoot(page, 'client');
  });

  it('2. OAuth clients: edit, reset the secret (old one dies at once), delete (what dies is said)', async () => {
    await page.goto(`${ts.url}/dashboard/clients/${uiClient.clientId}`);
    await page.getByLabel('Name', { exact: true }).fill('UI Writer Renamed');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect(page.getByText('Saved.').isVisible()).resolves.toBe(true);
    expect((await call('GET', `${ts.api}/oauth/clients/${uiClient.clientId}`, { key: dev.key })).json.name).toBe('UI Writer Renamed');

    await page.getByRole('link', { name: 'Reset secret' }).click();
    expect(await page.content()).toContain('The old secret stops working at once');
    await shoot(page, 'client-reset-confirm');
    await page.getByRole('button', { name: 'Reset secret' }).click();
    const fresh = await clientSecretOnPage(page);
    expect(fresh).not.toBe(uiClient.clientSecret);
    const agent = await signIn(ts, 'ui_end_user');
    const attempt = async (secret: string) => {
      const { code, verifier } = await obtainCode(ts, agent, uiClient, { scope: 'profile' });
      return tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: uiClient.redirectUri, code_verifier: verifier, client_id: uiClient.clientId, client_secret: secret });
    };
    expect((await attempt(uiClient.clientSecret!)).status).toBe(401);
    const live = await attempt(fresh);
    expect(live.status).toBe(200);

    await page.goto(`${ts.url}/dashboard/clients/${uiClient.clientId}`);
    await page.getByRole('link', { name: 'Delete client' }).click();
    const confirm = await page.content();
    expect(confirm).toContain('every access and refresh token it holds');
    await shoot(page, 'client-delete-confirm');
    await page.getByRole('button', { name: 'Delete client' }).click();
    await page.waitForURL(/\/dashboard\/clients$/);
    expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${live.json.access_token}` } })).status).toBe(401);
    expect((await call('GET', `${ts.api}/oauth/clients/${uiClient.clientId}`, { key: dev.key })).status).toBe(404);
    await shoot(page, 'clients');
  });

  it('3. Connected apps: scopes, granted, last used, usage; "Revoke access" kills its tokens at once', async () => {
    const owner = await seedUser(ts, 'third_party_dev');
    const app = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name: 'Story Bot', redirectUris: ['https://bot.example.com/cb'], scopes: ['profile', 'generations'] } });
    const client: TestClient = { clientId: app.json.clientId, clientSecret: app.json.clientSecret, redirectUri: 'https://bot.example.com/cb', scopes: [] };
    const agent = new Agent(ts.url, ts.config.publicUrl);
    agent.cookies.clear();
    const devAgent = await signIn(ts, dev.username);
    const { code, verifier } = await obtainCode(ts, devAgent, client, { scope: 'profile generations' });
    const tokens = (await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! })).json;
    const chat = await call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${tokens.access_token}` }, json: { model: 'test-model', messages: [] } });
    expect(chat.status).toBe(200);

    await page.goto(`${ts.url}/dashboard/apps`);
    const card = page.locator('.app', { hasText: 'Story Bot' });
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('generations');
    expect(text).toContain('Generate text and images on your behalf');
    expect(text).toContain('18 tokens · 0 images · 1 request');
    expect(text).toMatch(/Granted\s*\d{4}-/);
    expect(text).toMatch(/Last used\s*\d{4}-/);
    await shoot(page, 'apps');
    await card.getByRole('link', { name: 'Revoke access' }).click();
    await page.getByRole('button', { name: 'Revoke access' }).click();
    await page.waitForURL(/\/dashboard\/apps$/);
    expect(await page.content()).not.toContain('Story Bot');
    expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
    expect((await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! })).json.error).toBe('invalid_grant');
  });

  it('4. Characters: create with an avatar preview, edit, delete', async () => {
    await page.goto(`${ts.url}/dashboard/characters`);
    await page.getByLabel('Name').fill('Captain Nova');
    await page.getByLabel('Description').fill('A starship captain');
    await page.getByLabel('Personality').fill('Bold and kind');
    await page.getByLabel('Greeting').fill('Welcome aboard!');
    await page.getByLabel('Avatar URL').fill(`${ts.url}/assets/none.png`);
    await expect(page.locator('[data-avatar-preview]').isVisible()).resolves.toBe(true);
    await page.getByRole('button', { name: 'Create character' }).click();
    await expect(page.getByText('Character created.').isVisible()).resolves.toBe(true);
    const list = await call('GET', `${ts.api}/characters`, { key: dev.key });
    expect(list.json.data).toEqual([expect.objectContaining({ name: 'Captain Nova', greeting: 'Welcome aboard!', avatar: `${ts.url}/assets/none.png` })]);
    await page.getByLabel('Greeting').fill('Engage!');
    await page.getByRole('button', { name: 'Save changes' }).click();
    expect((await call('GET', `${ts.api}/characters/${list.json.data[0].id}`, { key: dev.key })).json.greeting).toBe('Engage!');
    await shoot(page, 'character');
    await page.goto(`${ts.url}/dashboard/characters`);
    await shoot(page, 'characters');
    await page.getByRole('link', { name: 'Captain Nova' }).click();
    await page.getByRole('link', { name: 'Delete character' }).click();
    await page.getByRole('button', { name: 'Delete character' }).click();
    await page.waitForURL(/\/dashboard\/characters$/);
    expect((await call('GET', `${ts.api}/characters`, { key: dev.key })).json.data).toEqual([]);
  });

  it('5. Usage: a chart and a table per app and day', async () => {
    await call('POST', `${ts.api}/chat/completions`, { key: dev.key, json: { model: 'test-model', messages: [] } });
    await page.goto(`${ts.url}/dashboard/usage`);
    await expect(page.locator('figure.chart svg rect').count()).resolves.toBeGreaterThan(0);
    const table = (await page.locator('table.usage').textContent()) ?? '';
    expect(table).toContain('Story Bot');
    expect(table).toContain('API keys');
    expect(table).toContain(new Date().toISOString().slice(0, 10));
    await shoot(page, 'usage');
  });

  it('7. Two users never see each other’s keys, clients, apps, characters or usage', async () => {
    await call('POST', `${ts.api}/characters`, { key: dev.key, json: { name: 'Private Pat' } });
    await call('POST', `${ts.api}/oauth/clients`, { key: dev.key, json: { name: 'Dev Only Client', redirectUris: ['https://dev.example.com/cb'], scopes: ['profile'] } });
    const stranger = await seedUser(ts, 'stranger');
    const other = await browser.newContext({ viewport: DESKTOP });
    const p = await other.newPage();
    await p.goto(`${ts.url}/login`);
    await p.getByLabel('Username').fill(stranger.username);
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
    await p.waitForURL(/\/dashboard$/);
    for (const path of ['/dashboard', '/dashboard/keys', '/dashboard/clients', '/dashboard/apps', '/dashboard/characters', '/dashboard/usage']) {
      await p.goto(ts.url + path);
      const html = await p.content();
      for (const secret of ['Private Pat', 'Dev Only Client', 'Story Bot', dev.key.slice(0, 18), 'laptop', 'dashboard_dev']) expect(html, `${path} shows ${secret}`).not.toContain(secret);
    }
    const devCharacter = (await call('GET', `${ts.api}/characters`, { key: dev.key })).json.data[0].id;
    await p.goto(`${ts.url}/dashboard/characters/${devCharacter}`);
    expect(p.url()).toMatch(/\/dashboard\/characters$/);
    const devClient = (await call('GET', `${ts.api}/oauth/clients`, { key: dev.key })).json.data[0].clientId;
    const response = await p.goto(`${ts.url}/dashboard/clients/${devClient}`);
    expect(response?.status()).toBe(404);
    await other.close();
  });

  it('6. Account: change password signs out other sessions; sign out everywhere; delete with a typed confirmation', async () => {
    const second = await browser.newContext();
    const elsewhere = await second.newPage();
    await elsewhere.goto(`${ts.url}/login`);
    await elsewhere.getByLabel('Username').fill(dev.username);
    await elsewhere.getByLabel('Password').fill(PASSWORD);
    await elsewhere.getByRole('button', { name: 'Sign in', exact: true }).click();
    await elsewhere.waitForURL(/\/dashboard$/);

    await page.goto(`${ts.url}/dashboard/account`);
    await shoot(page, 'account');
    await page.getByLabel('Current password').fill('wrong password');
    await page.getByLabel('New password').fill('a brand new password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect(page.locator('#current_password-error').textContent()).resolves.toContain('not correct');
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password').fill('a brand new password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect(page.getByText('Password changed.').isVisible()).resolves.toBe(true);
    await elsewhere.goto(`${ts.url}/dashboard`);
    expect(elsewhere.url()).toContain('/login');
    await page.goto(`${ts.url}/dashboard`);
    expect(page.url()).toMatch(/\/dashboard$/);

    // Sign out everywhere, from the second browser after signing in again.
    await elsewhere.getByLabel('Username').fill(dev.username);
    await elsewhere.getByLabel('Password').fill('a brand new password');
    await elsewhere.getByRole('button', { name: 'Sign in', exact: true }).click();
    await elsewhere.waitForURL(/\/dashboard$/);
    await elsewhere.goto(`${ts.url}/dashboard/account`);
    await elsewhere.getByRole('button', { name: 'Sign out everywhere', exact: true }).click();
    await elsewhere.waitForURL(/\/login/);
    await page.goto(`${ts.url}/dashboard`);
    expect(page.url()).toContain('/login');
    await second.close();

    await page.getByLabel('Username').fill(dev.username);
    await page.getByLabel('Password').fill('a brand new password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/dashboard$/);
    await page.goto(`${ts.url}/dashboard/account`);
    await page.getByLabel(/Type your username/).fill('not my name');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await expect(page.locator('#confirm-error').isVisible()).resolves.toBe(true);
    expect((await call('GET', `${ts.api}/characters`, { key: dev.key })).status).toBe(200);
    await page.getByLabel(/Type your username/).fill(dev.username);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(/\/signup/);
    expect((await call('GET', `${ts.api}/characters`, { key: dev.key })).status).toBe(401);
    expect(await ts.services.users.findByUsername(dev.username)).toBeUndefined();
    await shoot(page, 'after-delete-signup');
  });

  it('every dashboard page needs a session and refuses a POST without CSRF', async () => {
    const anonymous = await fetch(`${ts.url}/dashboard/keys`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/login?return_to=%2Fdashboard%2Fkeys');
    const user = await seedUser(ts, 'csrf_probe');
    const agent = await signIn(ts, user.username);
    const forged = await agent.fetch('/dashboard/keys', { form: { name: 'forged' } });
    expect(forged.status).toBe(403);
    expect(await ts.services.apiKeys.list(user.userId)).toHaveLength(1);
  });
});
