import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, PASSWORD, hiddenField, obtainCode, registerClient, signIn, tokenRequest } from '../helpers/oauth.js';
import { call, captureLog, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

describe('security events: audit records, log lines, the Activity page', () => {
  let ts: TestServer;
  let user: Seeded;
  let agent: Agent;
  const log = captureLog();
  const lines = () => log.lines.map((l) => JSON.parse(l) as Record<string, any>);

  beforeAll(async () => {
    ts = await startTestServer('sqlite', { LOG_LEVEL: 'info', RATE_LIMIT_TOKEN: '0' }, { logStream: log.logStream });
    user = await seedUser(ts);
  });
  afterAll(async () => ts?.close());

  const events = async () => (await ts.services.audit.listForUser(user.userId)).map((e) => e.type);

  it('records a burst of failed sign-ins against the account', async () => {
    for (let i = 0; i < 3; i++) {
      const fresh = new Agent(ts.url, ts.config.publicUrl);
      const page = await (await fresh.fetch('/login')).text();
      await fresh.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username: user.username, password: `wrong password ${i}` } });
    }
    expect(await events()).toContain('sign_in.throttled');
    await ts.services.throttle.clear(user.username);
    agent = await signIn(ts, user.username);
  });

  it('records key creation and revocation, a secret reset, code and refresh replays, and a revoked app', async () => {
    const keysPage = await (await agent.fetch('/dashboard/keys')).text();
    expect((await agent.fetch('/dashboard/keys', { form: { _csrf: hiddenField(keysPage, '_csrf'), name: 'audited' } })).status).toBe(201);
    const [key] = (await ts.services.apiKeys.list(user.userId)).filter((k) => k.name === 'audited');
    const confirm = await (await agent.fetch(`/dashboard/keys/${key!.id}/revoke`)).text();
    await agent.fetch(`/dashboard/keys/${key!.id}/revoke`, { form: { _csrf: hiddenField(confirm, '_csrf') } });

    const client = await registerClient(ts, user, { name: 'Audited App' });
    const reset = await call('POST', `${ts.api}/oauth/clients/${client.clientId}/reset-secret`, { key: user.key });
    client.clientSecret = reset.json.clientSecret;

    const { code, verifier } = await obtainCode(ts, agent, client, { prompt: 'consent' });
    const redeem = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! };
    const tokens = (await tokenRequest(ts, redeem)).json;
    expect((await tokenRequest(ts, redeem)).json.error).toBe('invalid_grant');

    const again = await obtainCode(ts, agent, client);
    const fresh = (await tokenRequest(ts, { ...redeem, code: again.code, code_verifier: again.verifier })).json;
    const refresh = { grant_type: 'refresh_token', refresh_token: fresh.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! };
    expect((await tokenRequest(ts, refresh)).status).toBe(200);
    expect((await tokenRequest(ts, refresh)).json.error).toBe('invalid_grant');

    const apps = await (await agent.fetch(`/dashboard/apps/${client.clientId}/revoke`)).text();
    await agent.fetch(`/dashboard/apps/${client.clientId}/revoke`, { form: { _csrf: hiddenField(apps, '_csrf') } });

    expect(await events()).toEqual(
      expect.arrayContaining(['api_key.created', 'api_key.revoked', 'client.secret_reset', 'code.replayed', 'refresh_token.replayed', 'grant.revoked']),
    );
    const auditLines = lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('audit: '));
    expect(auditLines.map((l) => l.audit.type)).toEqual(expect.arrayContaining(['client.secret_reset', 'code.replayed', 'grant.revoked']));
    const everything = log.lines.join('');
    for (const secret of [tokens.access_token, tokens.refresh_token, fresh.refresh_token, client.clientSecret!, user.key]) expect(everything).not.toContain(secret);
  });

  it('shows the user their own events on the Activity page, with the app and the address', async () => {
    const page = await (await agent.fetch('/dashboard/activity')).text();
    expect(page).toContain('A used refresh token was presented again');
    expect(page).toContain('An authorization code was redeemed twice');
    expect(page).toContain('Audited App');
    expect(page).toContain('127.0.0.1');
    const other = await seedUser(ts);
    const theirs = await (await (await signIn(ts, other.username)).fetch('/dashboard/activity')).text();
    expect(theirs).toContain('API key created');
    expect(theirs).not.toContain('Audited App');
    expect(theirs).not.toContain('redeemed twice');
  });

  it('records a password change and an account deletion, which outlives the account', async () => {
    const page = await (await agent.fetch('/dashboard/account')).text();
    const changed = await agent.fetch('/dashboard/account/password', { form: { _csrf: hiddenField(page, '_csrf'), current_password: PASSWORD, new_password: 'a brand new password' } });
    expect(changed.status).toBe(200);
    expect(await events()).toContain('password.changed');
    const again = await (await agent.fetch('/dashboard/account')).text();
    await agent.fetch('/dashboard/account/delete', { form: { _csrf: hiddenField(again, '_csrf'), confirm: user.username } });
    expect(await events()).toContain('account.deleted');
  });

  it('logs health probes at debug only, and ISO times', async () => {
    await call('GET', `${ts.url}/healthz`);
    await call('GET', `${ts.url}/readyz`);
    await call('GET', `${ts.url}/.well-known/jwks.json`);
    const logged = (url: string) => lines().filter((l) => l.req?.url === url || l.url === url);
    expect([...logged('/healthz'), ...logged('/readyz')]).toEqual([]);
    // The positive anchor: a request that is not a probe, sent after them, is logged at info.
    expect(logged('/.well-known/jwks.json')).not.toEqual([]);
    for (const line of lines()) expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('puts the user and client ids on request log lines', async () => {
    const completed = lines().filter((l) => l.msg === 'request completed');
    expect(completed.some((l) => l.userId === user.userId && l.apiKeyId)).toBe(true);
    expect(completed.some((l) => typeof l.clientId === 'string' && l.clientId.startsWith('client_'))).toBe(true);
  });
});
