import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { PASSWORD, registerClient, type TestClient } from '../helpers/oauth.js';
import { seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/** SPEC §12 in Chromium, on both dialects: an admin signs in, proves it again, suspends a user, sees it audited, and verifies an app. */
describe.each(DIALECTS)('the operator console, in Chromium (%s)', (dialect) => {
  const runs = HAVE_CHROMIUM && dialectAvailable(dialect);
  let ts: TestServer;
  let browser: Browser;
  let admin: Seeded;
  let victim: Seeded;
  let client: TestClient;

  beforeAll(async () => {
    if (!runs) return;
    ts = await startTestServer(dialect, { OPERATOR_NAME: 'Browser Ops' });
    admin = await seedUser(ts, 'console_admin');
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
    victim = await seedUser(ts, 'console_victim');
    const owner = await seedUser(ts, 'console_owner');
    client = await registerClient(ts, owner, { name: 'Console Checked', scopes: ['profile'] });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
  });

  it.skipIf(!runs)('signs in, re-authenticates with the password, suspends a user, finds it in Audit, and verifies an app', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${ts.url}/admin/users`);
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    // The console asks again before its first page.
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.getByLabel('Password').fill('not my password');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.getByText('That is not your password.').waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();

    await page.getByLabel('Username or email starts with').fill('CONSOLE_V');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL(/\/admin\/users\?q=CONSOLE_V/);
    expect(await page.locator('tr[data-user]').count()).toBe(1);
    await page.getByRole('link', { name: victim.username }).click();
    await page.getByRole('heading', { name: victim.username }).waitFor();
    await page.getByRole('button', { name: 'Suspend', exact: true }).click();
    await page.getByText(/^suspended since/).waitFor();
    expect((await ts.services.userAdmin.get(victim.userId)).suspendedAt).not.toBeNull();

    await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Audit' }).click();
    const suspended = page.locator('tr[data-event="account.suspended"]');
    await suspended.first().waitFor();
    expect(await suspended.first().textContent()).toContain(victim.username);
    expect(await suspended.first().textContent()).toContain(admin.username);

    await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Apps' }).click();
    await page.getByLabel('Name starts with, or client_id').fill('console');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('link', { name: 'Console Checked' }).click();
    await page.getByRole('heading', { name: 'Console Checked' }).waitFor();
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.getByRole('button', { name: 'Unverify', exact: true }).waitFor();
    expect((await ts.services.clients.findRegistered(client.clientId))?.verifiedAt).not.toBeNull();
    await page.screenshot({ path: `test-results/admin-app-verified-${dialect}.png`, fullPage: true });

    await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Audit' }).click();
    await page.locator('tr[data-event="client.verified"]').first().waitFor();
  }, 60_000);
});
