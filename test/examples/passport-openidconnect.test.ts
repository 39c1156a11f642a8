import { describe, expect, it } from 'vitest';
import { FormBrowser } from './form-browser.js';
import { relyingParty, signInToApp } from './run-example.js';

describe('examples/passport-openidconnect (Passport + passport-openidconnect, unchanged) against a started Serika', () => {
  const rp = relyingParty('examples/passport-openidconnect/server.mjs', { name: 'Passport App', redirectPath: '/callback', postLogoutPath: '/' });

  it('signs in with code + PKCE and a nonce, reads the ID token and userinfo, and signs out of Serika', async () => {
    const { ts, user, appUrl, clientId } = rp;
    const browser = new FormBrowser();
    const login = await browser.open(`${appUrl}/login`);
    const { authorize } = await signInToApp(browser, rp, login);
    expect(authorize).toMatchObject({ response_type: 'code', scope: 'openid profile', code_challenge_method: 'S256', client_id: clientId, nonce: expect.any(String) });

    const me = JSON.parse((await browser.open(`${appUrl}/me`)).html);
    expect(me.idProfile).toEqual({ id: user.userId, username: user.username, displayName: user.username });
    expect(Date.parse(me.authTime)).toBeGreaterThan(Date.now() - 60_000);
    expect(me.userinfo).toMatchObject({ sub: user.userId, id: user.userId, username: user.username, preferred_username: user.username });

    const out = await browser.confirmSignOut(await browser.open(`${appUrl}/logout`));
    expect(out.url.href).toBe(`${appUrl}/`);
    expect(out.html).toContain('Sign in with Serika');
    expect((await browser.open(`${appUrl}/me`)).status).toBe(401);
    expect((await browser.open(`${ts.config.publicUrl}/dashboard`)).url.pathname).toBe('/login');
  });
});
