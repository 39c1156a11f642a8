import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { Agent, PASSWORD, hiddenField } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

describe('examples/web-signin against a started Serika', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let user: Seeded;
  let app: ChildProcess;
  let appUrl: string;
  let output = '';

  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl });
    user = await seedUser(ts);
    const port = await freePort('127.0.0.1');
    appUrl = `http://127.0.0.1:${port}`;
    const client = await call('POST', `${ts.api}/oauth/clients`, {
      key: user.key,
      json: { name: 'Example', redirectUris: [`${appUrl}/callback`], scopes: ['profile', 'generations'], postLogoutRedirectUris: [`${appUrl}/`] },
    });
    app = spawn(process.execPath, [join(ROOT, 'examples/web-signin/server.mjs')], {
      env: childEnv({ SERIKA_ISSUER: ts.config.publicUrl, CLIENT_ID: client.json.clientId, CLIENT_SECRET: client.json.clientSecret, PORT: String(port), MODEL: 'test-model' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk;
        if (output.includes('Example app on')) resolve();
      };
      app.stdout!.on('data', onData);
      app.stderr!.on('data', onData);
      app.on('exit', (code) => reject(new Error(`example exited ${code}: ${output}`)));
    });
  });
  afterAll(async () => {
    app?.kill('SIGTERM');
    await ts?.close();
    await up?.close();
  });

  it('signs the user in, greets them by name with a chat completion, and signs them out', async () => {
    const browser = new Agent(ts.url, ts.config.publicUrl);
    const go = async (url: string) => browser.fetch(url.replace('http://localhost:', 'http://127.0.0.1:'));
    let response = await go(`${appUrl}/login`);
    // → Serika's authorize → sign-in page → consent → back to the app.
    response = await go(response.headers.get('location')!);
    const loginUrl = new URL(response.headers.get('location')!, ts.url);
    const loginPage = await (await go(loginUrl.href)).text();
    response = await browser.fetch('/login', { form: { _csrf: hiddenField(loginPage, '_csrf'), username: user.username, password: PASSWORD, return_to: loginUrl.searchParams.get('return_to')! } });
    const consent = await (await go(new URL(response.headers.get('location')!, ts.url).href)).text();
    expect(consent).toContain('<strong>Example</strong> wants to access your Serika account');
    response = await browser.fetch(`${ts.api}/oauth/authorize/decision`, { form: { _csrf: hiddenField(consent, '_csrf'), request_id: hiddenField(consent, 'request_id'), decision: 'allow' } });
    response = await go(response.headers.get('location')!);
    expect(response.status).toBe(303);
    const home = await (await go(`${appUrl}/`)).text();
    expect(home).toContain(`Hello, ${user.username}`);
    expect(home).toContain(user.userId);
    expect(home).toContain('Serika says: <q>Hello from upstream</q>');
    console.log(`example app page: ${home.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()}`);

    response = await go(`${appUrl}/logout`);
    const endSession = await go(response.headers.get('location')!);
    const confirm = await endSession.text();
    expect(confirm).toContain('Sign out of Serika?');
    const out = await browser.fetch(`${ts.api}/oauth/end_session`, {
      form: { _csrf: hiddenField(confirm, '_csrf'), id_token_hint: hiddenField(confirm, 'id_token_hint'), client_id: hiddenField(confirm, 'client_id'), post_logout_redirect_uri: `${appUrl}/`, state: 'signed-out', confirm: 'yes' },
    });
    expect(out.headers.get('location')).toBe(`${appUrl}/?state=signed-out`);
  });
});
