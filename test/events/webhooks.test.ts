import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { form, hiddenField, obtainCode, signIn, tokenRequest, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type Seeded, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { startEventsBed, type EventsBed, type Receiver } from '../helpers/webhook-receiver.js';

const REDIRECT = 'https://app.example.com/callback';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe.each(DIALECTS)('events to apps: webhooks and back-channel logout (%s)', (dialect) => {
  let bed: EventsBed;
  let ts: TestServer;
  let receiver: Receiver;
  let developer: Seeded;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ({ ts, receiver, developer } = bed = await startEventsBed(dialect));
    // Tests shorten the schedule (the product's is SPEC §13's 5 s, 5 min, …).
    (ts.services.eventWorker.settings as { retryScheduleMs: readonly number[] }).retryScheduleMs = [150, 150, 150];
  });
  afterAll(async () => bed?.close());

  /** A confidential client whose webhook (and logout URI) is the receiver, under a path of its own. */
  const appWithWebhook = async (name: string, extra: Record<string, unknown> = {}) => {
    const reply = await call('POST', `${ts.api}/oauth/clients`, {
      key: developer.key,
      json: { name, redirectUris: [REDIRECT], scopes: ['profile'], webhookUrl: `${receiver.origin}/hooks/${name}`, ...extra },
    });
    expect(reply.status).toBe(201);
    expect(reply.json.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const client: TestClient = { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: REDIRECT, scopes: ['profile'] };
    return { client, secret: reply.json.webhookSecret as string };
  };

  const hooksOf = (name: string) => receiver.received.filter((r) => r.path === `/hooks/${name}`);

  /** Every delivery is checked with the Standard Webhooks library against the client's secret. */
  const verified = (secret: string, name: string) => hooksOf(name).map((r) => new Webhook(secret).verify(r.body, r.headers) as { type: string; timestamp: string; data: Record<string, unknown> });

  /** A user who allowed the app, with the app's tokens. */
  const grantedUser = async (client: TestClient, scope = 'profile') => {
    const user = await seedUser(ts);
    const agent = await signIn(ts, user.username);
    const { code, verifier } = await obtainCode(ts, agent, client, { scope });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(tokens.status).toBe(200);
    return { user, agent, tokens: tokens.json };
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('shows the secret once, never on GET, and rotates it', async () => {
      const { client, secret } = await appWithWebhook('secret-once');
      const got = await call('GET', `${ts.api}/oauth/clients/${client.clientId}`, { key: developer.key });
      expect(got.json).toMatchObject({ webhookUrl: `${receiver.origin}/hooks/secret-once`, webhookEvents: ['grant.revoked', 'tokens.revoked', 'user.deleted', 'budget.threshold', 'budget.changed'], backchannelLogoutUri: null });
      expect(got.text).not.toContain('whsec_');
      const patched = await call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: developer.key, json: { webhookEvents: ['grant.revoked'] } });
      expect(patched.json.webhookSecret).toBeUndefined();
      const rotated = await call('POST', `${ts.api}/oauth/clients/${client.clientId}/rotate-webhook-secret`, { key: developer.key });
      expect(rotated.status).toBe(200);
      expect(rotated.json.webhookSecret).toMatch(/^whsec_/);
      expect(rotated.json.webhookSecret).not.toBe(secret);
      const stored = await ts.services.storage.db.selectFrom('oauth_clients').select('webhook_secret').where('id', '=', client.clientId).executeTakeFirstOrThrow();
      expect(stored.webhook_secret).not.toContain(rotated.json.webhookSecret.slice(6, 20));
    });

    it('makes a new secret when a removed webhook URL is set again; the old one never signs again', async () => {
      const { client, secret } = await appWithWebhook('reset-url');
      const url = `${receiver.origin}/hooks/reset-url`;
      const patch = (json: Record<string, unknown>) => call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: developer.key, json });
      // A changed URL keeps the secret (shown nowhere).
      expect((await patch({ webhookUrl: `${url}?moved=1` })).json.webhookSecret).toBeUndefined();
      const cleared = await patch({ webhookUrl: null });
      expect(cleared.json).toMatchObject({ webhookUrl: null });
      expect(cleared.json.webhookSecret).toBeUndefined();
      const stored = await ts.services.storage.db.selectFrom('oauth_clients').select('webhook_secret').where('id', '=', client.clientId).executeTakeFirstOrThrow();
      expect(stored.webhook_secret).toBeNull();
      // Set again: a first set, with a new secret shown once; deliveries are signed with it.
      const again = await patch({ webhookUrl: url });
      expect(again.status).toBe(200);
      expect(again.json.webhookSecret).toMatch(/^whsec_/);
      expect(again.json.webhookSecret).not.toBe(secret);
      await ts.services.events.test(developer.userId, client.clientId);
      await until(() => hooksOf('reset-url').length === 1, { message: 'the delivery' });
      expect(verified(again.json.webhookSecret, 'reset-url')[0]).toMatchObject({ type: 'webhook.test' });
      expect(() => verified(secret, 'reset-url')).toThrow();
    });

    it('signs grant.revoked when the user revokes the app, in the same transaction as the revocation', async () => {
      const { client, secret } = await appWithWebhook('revoked');
      const { user } = await grantedUser(client);
      expect(await ts.services.grants.revokeAccess(user.userId, client.clientId)).toBe(true);
      await until(() => hooksOf('revoked').length === 1, { message: 'the delivery' });
      const [event] = verified(secret, 'revoked');
      expect(event).toMatchObject({ type: 'grant.revoked', data: { user_id: user.userId, client_id: client.clientId, reason: 'user' } });
      expect(new Date(event!.timestamp).toISOString()).toBe(event!.timestamp);
      // A forged signature fails the same check.
      const forged = { ...hooksOf('revoked')[0]!.headers, 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') };
      expect(() => new Webhook(secret).verify(hooksOf('revoked')[0]!.body, forged)).toThrow();
    });

    it('tells of client_changed, budget.changed, budget.threshold, tokens.revoked and user.deleted', async () => {
      const { client, secret } = await appWithWebhook('kinds', { scopes: ['profile', 'generations'] });
      const { user, tokens } = await grantedUser(client, 'profile generations');
      await ts.services.budgets.set(user.userId, client.clientId, { tokens: 100, images: null, period: 'month' });
      // Spending 85 of 100 tokens crosses 80 % once; a second call reaching 100 % adds one more, never a repeat.
      for (const spent of [85, 20]) {
        const held = await ts.services.budgets.reserve(user.userId, client.clientId, () => ({ tokens: 1, images: 0 }));
        if (held?.kind !== 'reserved') throw new Error('no hold');
        await ts.services.budgets.settle(held.id, user.userId, client.clientId, { tokens: spent, images: 0 });
      }
      // A refresh token used twice ends its family.
      const first = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(first.status).toBe(200);
      const replay = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(replay.status).toBe(400);
      expect((await call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: developer.key, json: { scopes: ['profile'] } })).status).toBe(200);
      await until(() => hooksOf('kinds').length === 5, { message: 'the delivery' });
      const other = await grantedUser(client);
      await ts.services.users.delete(other.user.userId);
      await until(() => hooksOf('kinds').length === 6, { message: 'the delivery' });
      const events = verified(secret, 'kinds').map((e) => ({ type: e.type, ...e.data }));
      expect(events).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'budget.changed', user_id: user.userId, budget: { tokens: 100, images: null, period: 'month' } }),
          expect.objectContaining({ type: 'budget.threshold', percent: 80 }),
          expect.objectContaining({ type: 'budget.threshold', percent: 100 }),
          expect.objectContaining({ type: 'tokens.revoked', user_id: user.userId, client_id: client.clientId }),
          expect.objectContaining({ type: 'grant.revoked', reason: 'client_changed', user_id: user.userId }),
          expect.objectContaining({ type: 'user.deleted', user_id: other.user.userId, client_id: client.clientId }),
        ]),
      );
    });

    it('retries a 500 and delivers on the next try; both tries are listed', async () => {
      const { client, secret } = await appWithWebhook('retry');
      let calls = 0;
      const previous = receiver.answer;
      receiver.answer = (r) => (r.path === '/hooks/retry' ? { status: ++calls === 1 ? 500 : 200 } : previous(r));
      await ts.services.events.test(developer.userId, client.clientId);
      await until(async () => (await ts.services.events.deliveries(client.clientId))[0]?.state === 'delivered', { message: 'the delivery' });
      receiver.answer = previous;
      expect(hooksOf('retry')).toHaveLength(2);
      // The same event, the same id, signed afresh each try.
      expect(new Set(hooksOf('retry').map((r) => r.headers['webhook-id'])).size).toBe(1);
      expect(verified(secret, 'retry')[1]).toMatchObject({ type: 'webhook.test' });
      const [delivery] = await ts.services.events.deliveries(client.clientId);
      expect(delivery).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 200 });
      expect(delivery!.tries.map((t) => t.statusCode)).toEqual([500, 200]);

      // The dashboard lists it with both tries, and "Resend" sends it again.
      const agent = await signIn(ts, developer.username);
      const page = await (await agent.fetch(`/dashboard/clients/${client.clientId}`)).text();
      const row = new RegExp(`<tr data-event="${delivery!.id}">(.*?)</tr>`, 's').exec(page)![1]!;
      expect(row).toContain('<td data-status>delivered</td>');
      expect(row).toContain('<td data-tries>2</td>');
      expect(row).toMatch(/500<\/span> <span[^>]*>200<\/span>/);
      const resent = await agent.fetch(`/dashboard/clients/${client.clientId}/deliveries/${delivery!.id}/resend`, { form: { _csrf: hiddenField(page, '_csrf') } });
      expect(resent.status).toBe(303);
      await until(() => hooksOf('retry').length === 3, { message: 'the resent event' });
      expect(hooksOf('retry')[2]!.headers['webhook-id']).toBe(delivery!.id);
      // "Send test event" queues a new one.
      expect((await agent.fetch(`/dashboard/clients/${client.clientId}/test-event`, { form: { _csrf: hiddenField(page, '_csrf') } })).status).toBe(303);
      await until(() => hooksOf('retry').length === 4, { message: 'the test event' });
      expect(verified(secret, 'retry')[3]).toMatchObject({ type: 'webhook.test', data: { client_id: client.clientId } });
    });

    it('does not follow a redirect: it counts as a failed try', async () => {
      const { client } = await appWithWebhook('redirect');
      const previous = receiver.answer;
      receiver.answer = (r) => (r.path === '/hooks/redirect' ? { status: 307, headers: { location: `${receiver.origin}/elsewhere` } } : previous(r));
      await ts.services.events.test(developer.userId, client.clientId);
      await until(async () => (await ts.services.events.deliveries(client.clientId))[0]?.state === 'failed', { timeoutMs: 10_000, message: 'the delivery' });
      receiver.answer = previous;
      const [delivery] = await ts.services.events.deliveries(client.clientId);
      expect(delivery!.tries).toHaveLength(4);
      expect(delivery!.tries.every((t) => t.statusCode === 307 && /redirect/.test(t.error ?? ''))).toBe(true);
      expect(receiver.received.filter((r) => r.path === '/elsewhere')).toHaveLength(0);
    });

    it('sends a logout token to each app that got an ID token in the session, when the user signs out', async () => {
      const reply = await call('POST', `${ts.api}/oauth/clients`, {
        key: developer.key,
        json: { name: 'RP', redirectUris: [REDIRECT], scopes: ['profile'], backchannelLogoutUri: `${receiver.origin}/logout/rp` },
      });
      expect(reply.status).toBe(201);
      expect(reply.json.webhookSecret).toBeUndefined();
      const client: TestClient = { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: REDIRECT, scopes: ['profile'] };
      const user = await seedUser(ts);
      const agent = await signIn(ts, user.username);
      const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'openid profile' });
      const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
      const jwks = createRemoteJWKSet(new URL(`${ts.url}/.well-known/jwks.json`));
      const idToken = (await jwtVerify(tokens.json.id_token, jwks, { issuer: ts.config.publicUrl, audience: client.clientId })).payload;
      expect(idToken.sid).toMatch(/^sid_[0-9a-f]{32}$/);
      // The sid is not the session cookie's value.
      expect([...agent.cookies.values()].some((v) => v.includes(String(idToken.sid).slice(4)))).toBe(false);
      // Another session of the same user, where the app got nothing, does not end with this one.
      await signIn(ts, user.username);

      const dashboard = await (await agent.fetch('/dashboard')).text();
      expect((await agent.fetch('/logout', { form: { _csrf: hiddenField(dashboard, '_csrf') } })).status).toBe(303);
      await until(() => receiver.received.some((r) => r.path === '/logout/rp'), { message: 'the delivery' });
      const sent = receiver.received.filter((r) => r.path === '/logout/rp');
      expect(sent).toHaveLength(1);
      expect(sent[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
      const logoutToken = new URLSearchParams(sent[0]!.body).get('logout_token')!;
      expect(decodeProtectedHeader(logoutToken).typ).toBe('logout+jwt');
      const { payload } = await jwtVerify(logoutToken, jwks, { issuer: ts.config.publicUrl, audience: client.clientId, typ: 'logout+jwt' });
      expect(payload).toMatchObject({ sub: user.userId, sid: idToken.sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
      expect(payload.jti).toEqual(expect.any(String));
      expect(payload.nonce).toBeUndefined();
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
    });

    it('tells every app of every session that "sign out everywhere" ends, and keeps sid through refreshes', async () => {
      const make = async (name: string) => {
        const reply = await call('POST', `${ts.api}/oauth/clients`, { key: developer.key, json: { name, redirectUris: [REDIRECT], scopes: ['profile'], backchannelLogoutUri: `${receiver.origin}/logout/${name}` } });
        return { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: REDIRECT, scopes: ['profile'] } as TestClient;
      };
      const [one, two] = [await make('everywhere-1'), await make('everywhere-2')];
      const user = await seedUser(ts);
      const sids: string[] = [];
      for (const client of [one, two]) {
        // Each app in a session (a browser) of its own.
        const agent = await signIn(ts, user.username);
        const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'openid profile' });
        const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
        const sid = JSON.parse(Buffer.from(tokens.json.id_token.split('.')[1], 'base64url').toString()).sid;
        const refreshed = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! });
        expect(JSON.parse(Buffer.from(refreshed.json.id_token.split('.')[1], 'base64url').toString()).sid).toBe(sid);
        sids.push(sid);
      }
      expect(sids[0]).not.toBe(sids[1]);
      await ts.services.sessions.endForUser(user.userId, null, 'all', { ip: '127.0.0.1', log: pino({ level: 'silent' }) });
      await until(() => receiver.received.filter((r) => r.path.startsWith('/logout/everywhere-')).length === 2, { message: 'both logouts' });
      for (const [i, client] of [one, two].entries()) {
        const [sent] = receiver.received.filter((r) => r.path === `/logout/everywhere-${i + 1}`);
        const token = new URLSearchParams(sent!.body).get('logout_token')!;
        const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${ts.url}/.well-known/jwks.json`)), { issuer: ts.config.publicUrl, audience: client.clientId, typ: 'logout+jwt' });
        expect(payload.sid).toBe(sids[i]);
      }
    });

    it('gives the device grant\'s ID token the approving session\'s sid, and tells the app when that session ends', async () => {
      const reply = await call('POST', `${ts.api}/oauth/clients`, {
        key: developer.key,
        json: { name: 'TV', redirectUris: [REDIRECT], scopes: ['profile'], grantTypes: [DEVICE_GRANT, 'refresh_token'], backchannelLogoutUri: `${receiver.origin}/logout/tv` },
      });
      expect(reply.status).toBe(201);
      const tv = { clientId: reply.json.clientId as string, clientSecret: reply.json.clientSecret as string };
      const started = await call('POST', `${ts.api}/oauth/device_authorization`, {
        body: form({ client_id: tv.clientId, client_secret: tv.clientSecret, scope: 'openid profile' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(started.status).toBe(200);
      const user = await seedUser(ts);
      const agent = await signIn(ts, user.username);
      const page = await (await agent.fetch(`/device?user_code=${encodeURIComponent(started.json.user_code)}`)).text();
      await agent.fetch('/device/decision', { form: { _csrf: hiddenField(page, '_csrf'), user_code: hiddenField(page, 'user_code'), confirmation: hiddenField(page, 'confirmation'), decision: 'allow' } });
      const tokens = await tokenRequest(ts, { grant_type: DEVICE_GRANT, device_code: started.json.device_code, client_id: tv.clientId, client_secret: tv.clientSecret });
      expect(tokens.status).toBe(200);
      const jwks = createRemoteJWKSet(new URL(`${ts.url}/.well-known/jwks.json`));
      const idToken = (await jwtVerify(tokens.json.id_token, jwks, { issuer: ts.config.publicUrl, audience: tv.clientId })).payload;
      expect(idToken.sid).toMatch(/^sid_[0-9a-f]{32}$/);
      const refreshed = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token, client_id: tv.clientId, client_secret: tv.clientSecret });
      expect(JSON.parse(Buffer.from(refreshed.json.id_token.split('.')[1], 'base64url').toString()).sid).toBe(idToken.sid);

      const dashboard = await (await agent.fetch('/dashboard')).text();
      expect((await agent.fetch('/logout', { form: { _csrf: hiddenField(dashboard, '_csrf') } })).status).toBe(303);
      await until(() => receiver.received.some((r) => r.path === '/logout/tv'), { message: 'the device app\'s logout' });
      const sent = receiver.received.filter((r) => r.path === '/logout/tv');
      expect(sent).toHaveLength(1);
      const { payload } = await jwtVerify(new URLSearchParams(sent[0]!.body).get('logout_token')!, jwks, { issuer: ts.config.publicUrl, audience: tv.clientId, typ: 'logout+jwt' });
      expect(payload).toMatchObject({ sub: user.userId, sid: idToken.sid });
    });

    it('sends a logout token when an admin suspends the user, and when an admin deletes them (one session-ending path)', async () => {
      const make = async (name: string) => {
        const reply = await call('POST', `${ts.api}/oauth/clients`, { key: developer.key, json: { name, redirectUris: [REDIRECT], scopes: ['profile'], backchannelLogoutUri: `${receiver.origin}/logout/${name}` } });
        return { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: REDIRECT, scopes: ['profile'] } as TestClient;
      };
      const admin = await seedUser(ts);
      const jwks = createRemoteJWKSet(new URL(`${ts.url}/.well-known/jwks.json`));
      for (const [name, end] of [
        ['suspended', (userId: string) => ts.services.userAdmin.suspend(userId, admin.userId)],
        ['deleted', (userId: string) => ts.services.users.delete(userId, undefined, admin.userId)],
      ] as const) {
        const client = await make(name);
        const user = await seedUser(ts);
        const agent = await signIn(ts, user.username);
        const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'openid profile' });
        const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
        const sid = (await jwtVerify(tokens.json.id_token, jwks, { issuer: ts.config.publicUrl, audience: client.clientId })).payload.sid;
        expect(receiver.received.some((r) => r.path === `/logout/${name}`)).toBe(false);
        await end(user.userId);
        await until(() => receiver.received.some((r) => r.path === `/logout/${name}`), { message: `the logout of the ${name} user` });
        const sent = receiver.received.filter((r) => r.path === `/logout/${name}`);
        expect(sent).toHaveLength(1);
        const { payload } = await jwtVerify(new URLSearchParams(sent[0]!.body).get('logout_token')!, jwks, { issuer: ts.config.publicUrl, audience: client.clientId, typ: 'logout+jwt' });
        expect(payload).toMatchObject({ sub: user.userId, sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
        // The session is gone, and its app's record of it with it: nothing is sent twice.
        expect(await ts.services.storage.db.selectFrom('session_clients').select('sid').where('sid', '=', String(sid)).execute()).toEqual([]);
      }
    });

    it('says so in both metadata documents', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const document = (await call('GET', ts.url + path)).json;
        expect(document).toMatchObject({ backchannel_logout_supported: true, backchannel_logout_session_supported: true });
        expect(document.claims_supported).toContain('sid');
      }
    });

    it('delivers each event once when two instances run workers on one database', async () => {
      const { client, secret } = await appWithWebhook('twice');
      const second = await startInstance(ts.database.url, { WEBHOOKS_ALLOW_PRIVATE: 'true', KEY_ENCRYPTION_SECRETS: 'k'.repeat(32) });
      try {
        // Queued in one transaction with neither worker told: both find them at once on their next read.
        await ts.services.storage.db.transaction().execute(async (trx) => {
          for (let i = 0; i < 60; i++) await ts.services.events.webhook(trx, 'grant.revoked', developer.userId, client.clientId, { reason: 'user', n: i });
        });
        ts.services.eventWorker.wake();
        second.services.eventWorker.wake();
        await until(async () => (await ts.services.events.deliveries(client.clientId, 100)).every((d) => d.state === 'delivered'), { timeoutMs: 15_000, message: 'every delivery' });
        const ids = hooksOf('twice').map((r) => r.headers['webhook-id']);
        expect(ids).toHaveLength(60);
        expect(new Set(ids).size).toBe(60);
        expect(new Set(verified(secret, 'twice').map((e) => e.data.n)).size).toBe(60);
      } finally {
        await second.close();
      }
    });

    it('refuses a webhook on a private address unless WEBHOOKS_ALLOW_PRIVATE', async () => {
      const strict = await startInstance(ts.database.url, { KEY_ENCRYPTION_SECRETS: 'k'.repeat(32) });
      try {
        for (const url of [`${receiver.origin}/hooks/x`, 'https://127.0.0.1/hooks', 'https://10.0.0.8/hooks', 'https://[::1]/hooks', 'https://169.254.169.254/latest']) {
          const reply = await call('POST', `${strict.api}/oauth/clients`, { key: developer.key, json: { name: 'SSRF', redirectUris: [REDIRECT], scopes: ['profile'], webhookUrl: url } });
          expect(reply.status, url).toBe(400);
          expect(reply.json.error.param).toBe('webhookUrl');
        }
        const logout = await call('POST', `${strict.api}/oauth/clients`, { key: developer.key, json: { name: 'SSRF', redirectUris: [REDIRECT], scopes: ['profile'], backchannelLogoutUri: 'https://localhost/logout' } });
        expect(logout.status).toBe(400);
        // And at delivery: an event for a private URL set while it was allowed is not sent by an instance that forbids it.
        const { client } = await appWithWebhook('strict');
        await ts.services.eventWorker.close();
        await strict.services.events.test(developer.userId, client.clientId);
        await until(async () => (await strict.services.events.deliveries(client.clientId))[0]?.attempts === 1, { message: 'the delivery' });
        expect(hooksOf('strict')).toHaveLength(0);
        expect((await strict.services.events.deliveries(client.clientId))[0]!.tries[0]!.error).toMatch(/not allowed|not a public address/);
      } finally {
        await strict.close();
      }
    });
  });
});
