import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { PASSWORD, authorizeUrl, form, pkce, tokenRequest } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/** SPEC §10 in a real browser: the requested budget on the consent page, lowered by the user, then changed on the dashboard. */
describe.skipIf(!HAVE_CHROMIUM)('a spending limit set in Chromium', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let browser: Browser;
  let callback: CallbackServer;
  let user: Seeded;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl });
    callback = await startCallbackServer();
    user = await seedUser(ts, 'budget_browser');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await callback?.close();
    await ts?.close();
    await up?.close();
  });

  it('lowers the requested limit on the consent page, sees it granted, changes it on the dashboard, and the next call obeys', async () => {
    const redirectUri = `${callback.origin}/callback`;
    const app = (await call('POST', `${ts.api}/oauth/clients`, { key: user.key, json: { name: 'Story Bot', redirectUris: [redirectUri], scopes: ['generations'], public: true } })).json;
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(ts, {
      response_type: 'code',
      client_id: app.clientId,
      redirect_uri: redirectUri,
      scope: 'generations',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      authorization_details: JSON.stringify([{ type: 'serika_budget', tokens: 100000, period: 'month' }]),
    }).replace(ts.url, ts.config.publicUrl);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('group', { name: 'Spending limit' }).waitFor();
    expect(await page.getByLabel('Tokens', { exact: true }).inputValue()).toBe('100000');
    expect(await page.getByLabel('Limit what this app may spend for you').isChecked()).toBe(true);
    await page.getByLabel('Tokens', { exact: true }).fill('40');
    await page.getByLabel('Period').selectOption('day');
    await page.screenshot({ path: 'test-results/budget-consent.png', fullPage: true });
    const landed = callback.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    const code = (await landed).searchParams.get('code')!;
    const tokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: app.clientId }));
    expect(tokens.json.authorization_details).toEqual([{ type: 'serika_budget', tokens: 40, period: 'day' }]);

    const chat = () => call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${tokens.json.access_token}` }, json: { model: 'test-model', messages: [{ role: 'user', content: 'hi' }] } });
    expect((await chat()).status).toBe(200);
    expect((await chat()).status).toBe(429);

    await page.goto(`${ts.config.publicUrl}/dashboard/apps`);
    await page.locator('summary', { hasText: 'Spending limit' }).click();
    await page.getByLabel('Tokens', { exact: true }).fill('100000');
    await page.getByRole('button', { name: 'Save limit' }).click();
    await page.getByRole('heading', { name: 'Connected apps' }).waitFor();
    await page.locator('summary', { hasText: 'Spending limit' }).click();
    await page.screenshot({ path: 'test-results/budget-dashboard.png', fullPage: true });
    expect(await page.content()).toMatch(/18 \/ 100,000 tokens/);
    const next = await chat();
    expect(next.status).toBe(200);
    expect(next.headers.get('serika-budget-remaining-tokens')).toBe(String(100_000 - 36));
    await context.close();
  }, 60_000);
});
