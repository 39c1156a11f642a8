import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormBrowser } from './form-browser.js';
import { runExample } from './run-example.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

describe('examples/openid-client-device (the device grant with openid-client, unchanged) against a started Serika', () => {
  let ts: TestServer;
  let user: Seeded;
  let clientId: string;

  beforeAll(async () => {
    ts = await startTestServer('sqlite');
    user = await seedUser(ts);
    const client = await call('POST', `${ts.api}/oauth/clients`, {
      key: user.key,
      // A device-only public client: it has no redirect URI to register.
      json: { name: 'Terminal App', public: true, redirectUris: [], scopes: ['profile'], grantTypes: [DEVICE, 'refresh_token'] },
    });
    expect(client.status, client.text).toBe(201);
    clientId = client.json.clientId;
  });
  afterAll(async () => {
    await ts?.close();
  });

  it('shows a code, the user allows on /device, polls to the tokens, checks the ID token, reads userinfo, refreshes and revokes', async () => {
    const device = await runExample('examples/openid-client-device/device.mjs', { SERIKA_ISSUER: ts.config.publicUrl, CLIENT_ID: clientId }, /Then open \S+ in a browser/);
    try {
      const [, userCode, verificationUri] = /one-time code: ([A-Z]{4}-[A-Z]{4})\nThen open (\S+) in a browser/.exec(device.output())!;
      expect(verificationUri).toBe(`${ts.config.publicUrl}/device`);
      // On the user's phone or laptop: sign in, type the code as a person might, allow.
      const browser = new FormBrowser();
      const signIn = await browser.open(verificationUri!);
      const codeForm = await browser.signInAndAllow(signIn, user.username);
      const confirm = await browser.submit(codeForm, 'Continue', { fields: { user_code: userCode!.toLowerCase() } });
      expect(confirm.html).toContain('Terminal App');
      expect(confirm.html).toContain('Only continue if you started this yourself on a device you have with you');
      expect((await browser.submit(confirm, 'Allow')).html).toContain('Device connected');

      expect(await device.exited, device.output()).toBe(0);
      const printed = (label: string) => JSON.parse(new RegExp(`^${label}: (.*)$`, 'm').exec(device.output())![1]!);
      expect(device.output()).toContain(`Signed in as ${user.username}\n`);
      expect(printed('claims')).toMatchObject({ iss: ts.config.publicUrl, sub: user.userId, aud: clientId, preferred_username: user.username, auth_time: expect.any(Number) });
      expect(printed('userinfo')).toMatchObject({ sub: user.userId, id: user.userId, username: user.username });
      expect(printed('refreshed')).toMatchObject({ sub: user.userId, aud: clientId, auth_time: printed('claims').auth_time });
      expect(device.output()).toMatch(/Signed out\.\n$/);
    } finally {
      await device.stop();
    }
  });
});
