import { describe, expect, it } from 'vitest';
import { FormBrowser } from './form-browser.js';
import { relyingParty, signInToApp } from './run-example.js';

describe('examples/authjs (Auth.js, @auth/express, unchanged) against a started Serika', () => {
  const rp = relyingParty('examples/authjs/server.mjs', { name: 'Auth.js App', redirectPath: '/auth/callback/serika' });

  it('signs in with code + PKCE + nonce through its own sign-in page, keeps the ID token claims, and signs out', async () => {
    const { ts, user, appUrl, clientId } = rp;
    const browser = new FormBrowser();
    const signin = await browser.open(`${appUrl}/auth/signin`);
    const login = await browser.submit(signin, 'Sign in with Serika');
    const { authorize } = await signInToApp(browser, rp, login);
    expect(authorize).toMatchObject({ response_type: 'code', scope: 'openid profile', code_challenge_method: 'S256', client_id: clientId, nonce: expect.any(String) });

    const me = JSON.parse((await browser.open(`${appUrl}/me`)).html);
    expect(me.user).toMatchObject({ name: user.username });
    expect(me.claims).toMatchObject({ iss: ts.config.publicUrl, sub: user.userId, aud: clientId, preferred_username: user.username, auth_time: expect.any(Number), nonce: expect.any(String) });

    const out = await browser.submit(await browser.open(`${appUrl}/auth/signout`), 'Sign out');
    expect(out.url.href).toBe(`${appUrl}/`);
    expect((await browser.open(`${appUrl}/me`)).status).toBe(401);
  });
});
