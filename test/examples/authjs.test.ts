import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormBrowser } from './form-browser.js';
import { startRelyingParty, type RelyingParty } from './run-example.js';
import type { Seeded, TestServer } from '../helpers/server.js';

describe('examples/authjs (Auth.js, @auth/express, unchanged) against a started Serika', () => {
  let rp: RelyingParty;
  let ts: TestServer;
  let user: Seeded;
  let appUrl: string;
  let clientId: string;

  beforeAll(async () => {
    rp = await startRelyingParty('examples/authjs/server.mjs', { name: 'Auth.js App', redirectPath: '/auth/callback/serika' });
    ({ ts, user, appUrl, clientId } = rp);
  });
  afterAll(() => rp?.close());

  it('signs in with code + PKCE + nonce through its own sign-in page, keeps the ID token claims, and signs out', async () => {
    const browser = new FormBrowser();
    const signin = await browser.open(`${appUrl}/auth/signin`);
    const login = await browser.submit(signin, 'Sign in with Serika');
    const authorize = browser.visited.find((u) => u.pathname.endsWith('/oauth/authorize'))!;
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({ response_type: 'code', scope: 'openid profile', code_challenge_method: 'S256', client_id: clientId, nonce: expect.any(String) });
    const home = await browser.signInAndAllow(login, user.username);
    expect(home.url.href).toBe(`${appUrl}/`);
    expect(home.html).toContain(`Hello, ${user.username}`);

    const me = JSON.parse((await browser.open(`${appUrl}/me`)).html);
    expect(me.user).toMatchObject({ name: user.username });
    expect(me.claims).toMatchObject({ iss: ts.config.publicUrl, sub: user.userId, aud: clientId, preferred_username: user.username, auth_time: expect.any(Number), nonce: expect.any(String) });

    const out = await browser.submit(await browser.open(`${appUrl}/auth/signout`), 'Sign out');
    expect(out.url.href).toBe(`${appUrl}/`);
    expect((await browser.open(`${appUrl}/me`)).status).toBe(401);
  });
});
