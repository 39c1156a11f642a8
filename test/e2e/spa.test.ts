import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { PASSWORD, registerClient } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';

/** A single-page app on its own origin: PKCE, the token exchange, a refresh and userinfo, all with fetch. */
function spaPage(serika: string, clientId: string): string {
  return `<!doctype html><meta charset="utf-8"><title>SPA</title><pre id="result">working</pre>
<script type="module">
const serika = ${JSON.stringify(serika)};
const clientId = ${JSON.stringify(clientId)};
const redirectUri = location.origin + '/spa';
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const show = (value) => { document.getElementById('result').textContent = JSON.stringify(value); };
const params = new URLSearchParams(location.search);
try {
  if (!params.has('code') && !params.has('error')) {
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
    const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const metadata = await (await fetch(serika + '/.well-known/oauth-authorization-server')).json();
    const url = new URL(metadata.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'profile', state,
      code_challenge: challenge, code_challenge_method: 'S256' });
    location.assign(url);
  } else {
    const { verifier, state } = JSON.parse(sessionStorage.getItem('pkce'));
    if (params.get('state') !== state) throw new Error('state mismatch');
    const metadata = await (await fetch(serika + '/.well-known/oauth-authorization-server')).json();
    if (params.get('iss') !== metadata.issuer) throw new Error('iss mismatch');
    const post = async (body) => {
      const response = await fetch(metadata.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: await response.json() };
    };
    const exchanged = await post({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier });
    const refreshed = await post({ grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token, client_id: clientId });
    const me = await fetch(metadata.userinfo_endpoint, { headers: { authorization: 'Bearer ' + refreshed.body.access_token } });
    const revoked = await fetch(metadata.revocation_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.body.refresh_token, client_id: clientId }) });
    const after = await fetch(metadata.userinfo_endpoint, { headers: { authorization: 'Bearer ' + refreshed.body.access_token } });
    show({ exchanged: exchanged.status, refreshed: refreshed.status, rotated: refreshed.body.refresh_token !== exchanged.body.refresh_token,
      userinfo: { status: me.status, body: await me.json() }, revoked: revoked.status, after: after.status, challenge: after.headers.get('www-authenticate') });
  }
} catch (error) {
  show({ error: String(error) });
}
</script>`;
}

describe.skipIf(!HAVE_CHROMIUM)('a single-page app on another origin', () => {
  let ts: TestServer;
  let spa: Server;
  let spaOrigin: string;
  let html = '';

  beforeAll(async () => {
    ts = await startTestServer('sqlite');
    spa = createServer((request, response) => {
      if (!request.url?.startsWith('/spa')) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
    await new Promise<void>((resolve) => spa.listen(0, '127.0.0.1', resolve));
    spaOrigin = `http://127.0.0.1:${(spa.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => spa?.close(resolve));
    await ts?.close();
  });

  it('runs a public-client flow with fetch: token exchange, refresh, userinfo and revocation, cross-origin', async () => {
    const owner = await seedUser(ts, 'spa_owner');
    const user = await seedUser(ts, 'spa_user');
    const client = await registerClient(ts, owner, { public: true, name: 'Pure SPA', redirectUris: ['http://127.0.0.1/spa'], scopes: ['profile'] });
    html = spaPage(ts.config.publicUrl, client.clientId);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${spaOrigin}/spa`);
      await page.waitForURL(/\/login/);
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(new RegExp(`^${spaOrigin}/spa\\?`));
      await page.waitForFunction("document.getElementById('result')?.textContent !== 'working'", undefined, { timeout: 15_000 });
      const result = JSON.parse((await page.textContent('#result')) ?? '{}');
      expect(result).toEqual({
        exchanged: 200,
        refreshed: 200,
        rotated: true,
        userinfo: { status: 200, body: { id: user.userId, username: 'spa_user', avatar: null } },
        revoked: 200,
        after: 401,
        challenge: expect.stringContaining('error="invalid_token"'),
      });
    } finally {
      await browser.close();
    }
  });
});
