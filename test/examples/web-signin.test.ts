import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { PASSWORD } from '../helpers/oauth.js';
import { FormBrowser } from './form-browser.js';
import { relyingParty } from './run-example.js';

describe('examples/web-signin (openid-client, unchanged) against a started Serika', () => {
  let up: FakeUpstream;
  beforeAll(async () => {
    up = await startFakeUpstream();
  });
  afterAll(() => up?.close());
  const rp = relyingParty(
    'examples/web-signin/server.mjs',
    { name: 'Example', redirectPath: '/callback', postLogoutPath: '/', scopes: ['profile', 'generations'] },
    { serikaEnv: () => ({ UPSTREAM_BASE_URL: up.baseUrl }), appEnv: { MODEL: 'test-model' } },
  );

  it('signs in (PKCE, nonce), checks the ID token, reads userinfo, chats for the user, refreshes and signs out of Serika', async () => {
    const { ts, user, appUrl, clientId } = rp;
    const browser = new FormBrowser();
    const login = await browser.open(`${appUrl}/login`);
    const consent = await browser.submit(login, 'Sign in', { fields: { username: user.username, password: PASSWORD } });
    expect(consent.html).toContain('<strong>Example</strong> wants to access your Serika account');
    const home = await browser.submit(consent, 'Allow');
    expect(home.url.href).toBe(`${appUrl}/`);
    expect(home.html).toContain(`Hello, ${user.username}`);
    expect(home.html).toContain(user.userId);
    expect(home.html).toContain('Serika says: <q>Hello from upstream</q>');

    const me = JSON.parse((await browser.open(`${appUrl}/me`)).html);
    expect(me.claims).toMatchObject({ iss: ts.config.publicUrl, sub: user.userId, aud: clientId, preferred_username: user.username, name: user.username, nonce: expect.any(String), auth_time: expect.any(Number), at_hash: expect.any(String) });
    expect(me.userinfo).toMatchObject({ sub: user.userId, id: user.userId, username: user.username, preferred_username: user.username });

    const refreshed = JSON.parse((await browser.submit(home, 'Refresh')).html);
    expect(refreshed.expires_in).toBeGreaterThan(0);
    expect(refreshed.claims).toMatchObject({ sub: user.userId, aud: clientId, auth_time: me.claims.auth_time });

    const out = await browser.confirmSignOut(await browser.open(`${appUrl}/logout`));
    expect(out.url.href).toBe(`${appUrl}/?state=signed-out`);
    expect(out.html).toContain('Sign in with Serika');
    expect((await browser.open(`${ts.config.publicUrl}/dashboard`)).url.pathname).toBe('/login');
  });
});
