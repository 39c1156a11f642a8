import { describe, expect, it } from 'vitest';
import { FormBrowser } from './form-browser.js';
import { relyingParty, signInToApp } from './run-example.js';

describe('examples/express-openid-connect (express-openid-connect, unchanged) against a started Serika', () => {
  const rp = relyingParty('examples/express-openid-connect/server.mjs', { name: 'Express App', redirectPath: '/callback', postLogoutPath: '' });

  it('signs in with code + PKCE, verifies the ID token, reads userinfo, refreshes and signs out of Serika', async () => {
    const { ts, user, appUrl, clientId } = rp;
    const browser = new FormBrowser();
    const login = await browser.open(`${appUrl}/login`);
    const { home, authorize } = await signInToApp(browser, rp, login);
    expect(authorize).toMatchObject({ response_type: 'code', scope: 'openid profile', code_challenge_method: 'S256', client_id: clientId });
    expect(authorize.response_mode).toBeUndefined();

    const me = JSON.parse((await browser.open(`${appUrl}/me`)).html);
    expect(me.claims).toMatchObject({ iss: ts.config.publicUrl, sub: user.userId, aud: clientId, preferred_username: user.username, name: user.username, nonce: expect.any(String), at_hash: expect.any(String), auth_time: expect.any(Number) });
    expect(me.userinfo).toMatchObject({ sub: user.userId, id: user.userId, username: user.username, preferred_username: user.username });

    const refreshed = JSON.parse((await browser.submit(home, 'Refresh')).html);
    expect(refreshed.expires_in).toBeGreaterThan(0);
    expect(refreshed.claims.sub).toBe(user.userId);

    const out = await browser.confirmSignOut(await browser.open(`${appUrl}/logout`));
    expect(out.url.href).toBe(`${appUrl}/`);
    expect(out.html).toContain('Sign in with Serika');
    expect((await browser.open(`${ts.config.publicUrl}/dashboard`)).url.pathname).toBe('/login');
  });
});
