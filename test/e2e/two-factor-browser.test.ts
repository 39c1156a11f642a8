import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { totpCode } from '../helpers/two-factor.js';

describe.skipIf(!HAVE_CHROMIUM)('two-factor authentication in a real browser', { timeout: 60_000 }, () => {
  let ts: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    ts = await startTestServer('sqlite');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
  });

  /** Every request the page makes, so the test can say none left Serika's origin. */
  const requestsOf = (page: Page) => {
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    return urls;
  };

  const signInWithPassword = async (page: Page, username: string) => {
    await page.goto(`${ts.url}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  it('sets up the authenticator app from Account (QR drawn locally, no extra password), then signs in with a code typed by keyboard', async () => {
    const user = await seedUser(ts, 'two_factor_user');
    const context = await browser.newContext();
    const page = await context.newPage();
    const requests = requestsOf(page);
    await signInWithPassword(page, user.username);
    await page.waitForURL(`${ts.url}/dashboard`);

    await page.goto(`${ts.url}/dashboard/account`);
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    await page.getByRole('link', { name: 'Set up authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up authenticator app' }).waitFor();
    // SPEC §11: the QR code and the secret at once, and a code to confirm (a session signed in a minute ago is
    // asked no password; an older one is, test/web/recent-auth.test.ts).
    expect(await page.getByLabel('Password', { exact: true }).count()).toBe(0);
    await page.locator('#totp-secret').waitFor();
    const qr = page.getByRole('img', { name: /QR code/ });
    expect(await qr.locator('svg').count()).toBe(1);
    expect((await qr.boundingBox())!.width).toBeGreaterThan(100);
    const secret = (await page.locator('#totp-secret').textContent())!.trim();
    await page.getByLabel('Code from the app').fill(totpCode(secret));
    await page.screenshot({ path: 'test-results/two-factor-setup.png', fullPage: true });
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication is on' }).waitFor();
    expect(await page.locator('#recovery-codes li').count()).toBe(10);
    expect(requests.every((url) => url.startsWith(`${ts.url}/`))).toBe(true);
    await context.close();

    // A new browser: the password, then the second step, all by keyboard from the focused field.
    const second = await browser.newContext();
    const step = await second.newPage();
    await signInWithPassword(step, user.username);
    await step.waitForURL(`${ts.url}/login/verify`);
    await step.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    // The field is focused on arrival (autofocus): a code can be typed at once.
    expect(await step.evaluate('document.activeElement?.id')).toBe('code');
    await step.screenshot({ path: 'test-results/two-factor-verify.png', fullPage: true });
    await step.keyboard.type('000000');
    await step.keyboard.press('Enter');
    await step.getByRole('alert').waitFor();
    expect(await step.getByRole('alert').textContent()).toContain('That code is not valid');
    await step.getByLabel('Authentication code').focus();
    await step.keyboard.type(totpCode(secret, 1));
    await step.keyboard.press('Tab');
    expect(await step.evaluate('document.activeElement?.textContent')).toBe('Verify');
    await step.keyboard.press('Enter');
    await step.waitForURL(`${ts.url}/dashboard`);
    expect(await step.locator('header.top').textContent()).toContain(`Signed in as ${user.username}`);
    await second.close();
  });
});
