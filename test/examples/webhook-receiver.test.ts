import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server.js';
import { hiddenField, obtainCode, signIn, tokenRequest } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { runExample, type RunningExample } from './run-example.js';

const REDIRECT = 'https://myapp.example.com/callback';

describe('examples/webhook-receiver against a started Serika', () => {
  let ts: TestServer;
  let owner: Seeded;
  let app: RunningExample;
  let appUrl: string;
  let clientId: string;
  let clientSecret: string;

  beforeAll(async () => {
    ts = await startTestServer('sqlite', { WEBHOOKS_ALLOW_PRIVATE: 'true', RATE_LIMIT_LOGIN: '0' });
    owner = await seedUser(ts);
    appUrl = `http://127.0.0.1:${await freePort('127.0.0.1')}`;
    // As its README says: the client with both URLs, whose answer shows the secret once.
    const created = await call('POST', `${ts.api}/oauth/clients`, {
      key: owner.key,
      json: { name: 'My App', redirectUris: [REDIRECT], scopes: ['profile'], webhookUrl: `${appUrl}/webhooks`, backchannelLogoutUri: `${appUrl}/backchannel-logout` },
    });
    expect(created.status).toBe(201);
    ({ clientId, clientSecret } = created.json);
    app = await runExample('examples/webhook-receiver/receiver.mjs', { SERIKA_ISSUER: ts.config.publicUrl, CLIENT_ID: clientId, WEBHOOK_SECRET: created.json.webhookSecret, PORT: new URL(appUrl).port });
  });
  afterAll(async () => {
    await app?.stop();
    await ts?.close();
  });

  it('verifies a signed webhook and refuses a forged one', async () => {
    await ts.services.events.test(owner.userId, clientId);
    await until(() => /event webhook\.test evt_\w+ /.test(app.output()), { message: 'the test event in its output' });
    const forged = await fetch(`${appUrl}/webhooks`, {
      method: 'POST',
      headers: { 'webhook-id': 'evt_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') },
      body: '{"type":"user.deleted","data":{}}',
    });
    expect(forged.status).toBe(400);
    expect(app.output()).not.toContain('evt_forged');
  });

  it('verifies the logout token sent when the user signs out of Serika', async () => {
    const user = await seedUser(ts);
    const agent = await signIn(ts, user.username);
    const { code, verifier } = await obtainCode(ts, agent, { clientId, clientSecret, redirectUri: REDIRECT, scopes: ['profile'] }, { scope: 'openid profile' });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: clientId, client_secret: clientSecret });
    const sid = JSON.parse(Buffer.from(tokens.json.id_token.split('.')[1], 'base64url').toString()).sid;
    const page = await (await agent.fetch('/dashboard')).text();
    await agent.fetch('/logout', { form: { _csrf: hiddenField(page, '_csrf') } });
    await until(() => app.output().includes(`logout sub=${user.userId} sid=${sid}`), { message: 'the logout in its output' });
    expect(app.output()).not.toContain('refused logout token');
    const forged = await fetch(`${appUrl}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=' + tokens.json.id_token });
    expect(forged.status).toBe(400);
  });
});
