import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { PASSWORD } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** The CLI example, run as a user would; resolves with its output once it exits. */
function runExample(env: Record<string, string>, onStderr: (text: string) => void) {
  const child = spawn(process.execPath, [join(ROOT, 'examples/cli/serika-chat.mjs'), 'Say hello'], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => {
    stderr += c;
    onStderr(stderr);
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** SPEC §9 with a real browser on the user's side: examples/cli and oauth4webapi as the devices. */
describe.skipIf(!HAVE_CHROMIUM)('the device grant in Chromium', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let browser: Browser;
  let user: Seeded;
  let clientId: string;
  let dir: string;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'serika-cli-'));
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl });
    user = await seedUser(ts, 'device_owner');
    const client = await call('POST', `${ts.api}/oauth/clients`, {
      key: user.key,
      json: { name: 'Serika Chat', public: true, redirectUris: ['http://127.0.0.1/callback'], scopes: ['profile', 'generations'], grantTypes: ['authorization_code', 'refresh_token', DEVICE] },
    });
    clientId = client.json.clientId;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Signs in on the pages, types the code as a person might (lower case, spaces), and decides. */
  async function enterCode(page: Page, url: string, userCode: string, decision: 'Allow' | 'Deny', screenshot: string) {
    await page.goto(url);
    if (await page.getByLabel('Username').isVisible()) {
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }
    await page.getByLabel('Code').fill(userCode.toLowerCase().replace('-', ' '));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('Only continue if you started this yourself on a device you have with you').waitFor();
    expect(await page.content()).toContain(userCode);
    await page.screenshot({ path: `test-results/${screenshot}.png`, fullPage: true });
    await page.getByRole('button', { name: decision, exact: true }).click();
    await page.getByRole('heading', { name: decision === 'Allow' ? 'Device connected' : 'Request denied' }).waitFor();
  }

  it('examples/cli prints a code like gh, the user allows in the browser, the answer streams; the next run refreshes', async () => {
    const tokenFile = join(dir, 'token.json');
    const env = { SERIKA_ISSUER: ts.config.publicUrl, SERIKA_CLIENT_ID: clientId, SERIKA_TOKEN_FILE: tokenFile, SERIKA_MODEL: 'test-model' };
    const context = await browser.newContext();
    const page = await context.newPage();
    let started = false;
    const run = runExample(env, (stderr) => {
      const match = /one-time code: ([A-Z]{4}-[A-Z]{4})\nThen open (\S+) in a browser/.exec(stderr);
      if (match && !started) {
        started = true;
        void enterCode(page, match[2]!, match[1]!, 'Allow', 'device-confirm');
      }
    });
    const first = await run;
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/! First copy your one-time code: [A-Z]{4}-[A-Z]{4}/);
    expect(first.stdout.trim()).toBe('Hello from upstream');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    await context.close();

    const second = await runExample(env, () => {});
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('one-time code');
    expect(second.stdout.trim()).toBe('Hello from upstream');
    const usage = await call('GET', `${ts.api}/usage`, { key: user.key });
    expect(usage.json.data.find((r: { clientId: string }) => r.clientId === clientId).requests).toBe(2);
  }, 60_000);

  it('oauth4webapi as the device: deny in the browser → access_denied', async () => {
    const issuer = new URL(ts.config.publicUrl);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    const client = { client_id: clientId };
    const started = await oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope: 'profile' }, insecure));
    const context = await browser.newContext();
    await enterCode(await context.newPage(), started.verification_uri, started.user_code, 'Deny', 'device-denied');
    await context.close();
    const polled = await oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, oauth.None(), started.device_code, insecure)).catch((e: oauth.ResponseBodyError) => e);
    expect((polled as oauth.ResponseBodyError).error).toBe('access_denied');
  }, 30_000);
});
