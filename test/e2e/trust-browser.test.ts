import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { startLogoServer } from '../helpers/logo-server.js';
import { PASSWORD, authorizeUrl, pkce, registerClient, standardParams, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/**
 * SPEC §12 in Chromium, on both dialects: the consent page of a user-owned app before and after the operator verifies
 * it with the real CLI (`npx serika clients verify`), its logo from Serika's own origin.
 */
describe.each(DIALECTS)('apps people can trust, in Chromium (%s)', (dialect) => {
  const runs = HAVE_CHROMIUM && dialectAvailable(dialect);
  let ts: TestServer;
  let browser: Browser;
  let logos: Awaited<ReturnType<typeof startLogoServer>>;
  let owner: Seeded;
  let user: Seeded;
  let client: TestClient;

  beforeAll(async () => {
    if (!runs) return;
    logos = await startLogoServer();
    ts = await startTestServer(dialect, { CIMD_ALLOW_PRIVATE: 'true' });
    owner = await seedUser(ts, 'trust_owner');
    user = await seedUser(ts, 'trust_user');
    client = await registerClient(ts, owner, { name: 'Pixel Writer', scopes: ['profile'] });
    const patched = await call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: owner.key, json: { logoUri: `${logos.origin}/logo.png`, clientUri: 'https://pixel.example.com' } });
    expect(patched.json.logoUrl).not.toBeNull();
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
    await logos?.close();
  });

  it.skipIf(!runs)('says who registered an unverified app, shows its same-origin logo, and "Verified by" after `clients verify`', async () => {
    const page = await (await browser.newContext()).newPage();
    const foreignImages: string[] = [];
    page.on('request', (request) => {
      if (request.resourceType() === 'image' && !request.url().startsWith(ts.url)) foreignImages.push(request.url());
    });
    const consent = authorizeUrl(ts, standardParams(client, pkce().challenge, { prompt: 'consent' }));
    await page.goto(consent);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('Serika has not verified this app.').waitFor();
    expect(await page.getByText(`Registered by ${owner.username}`).count()).toBe(1);
    expect(await page.getByText('pixel.example.com').count()).toBe(1);

    const logo = page.locator('img.app-logo');
    const src = await logo.getAttribute('src');
    expect(new URL(src!, ts.url).origin).toBe(new URL(ts.url).origin);
    await expect.poll(() => logo.evaluate((img) => { const image = img as unknown as { complete: boolean; naturalWidth: number }; return image.complete && image.naturalWidth; })).toBe(1);
    expect(foreignImages).toEqual([]);

    const verified = await runCli(['clients', 'verify', '--client-id', client.clientId], { DATABASE_URL: ts.database.url, LOG_LEVEL: 'silent' });
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`Verified Pixel Writer (${client.clientId}).`);

    // OPERATOR_NAME's default: the host of PUBLIC_URL with its port.
    const operator = new URL(ts.config.publicUrl).host;
    expect(operator).toMatch(/:\d+$/);
    expect(ts.config.operatorName).toBe(operator);
    await expect
      .poll(async () => {
        await page.goto(consent);
        return page.getByText(`Verified by ${operator}`).count();
      })
      .toBe(1);
    expect(await page.getByText('Serika has not verified this app.').count()).toBe(0);
    await page.screenshot({ path: `test-results/consent-verified-${dialect}.png`, fullPage: true });

    const unknown = await runCli(['clients', 'suspend', '--client-id', 'client_nope'], { DATABASE_URL: ts.database.url, LOG_LEVEL: 'silent' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
