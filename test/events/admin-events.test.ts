import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLD } from '../../src/events/outbox.js';
import { DIALECTS, dialectAvailable, failInserts } from '../helpers/databases.js';
import { hiddenField, obtainCode, PASSWORD, signIn, tokenRequest, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, type Seeded, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { startEventsBed, type EventsBed, type Receiver } from '../helpers/webhook-receiver.js';

const REDIRECT = 'https://app.example.com/callback';

/** SPEC §12 × §13: what the operator's actions on users and apps tell the apps. */
describe.each(DIALECTS)('events of the operator\'s actions (%s)', (dialect) => {
  let bed: EventsBed;
  let ts: TestServer;
  let receiver: Receiver;
  let developer: Seeded;
  let admin: Seeded;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ({ ts, receiver, developer } = bed = await startEventsBed(dialect));
    admin = await seedUser(ts);
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
  });
  afterAll(async () => bed?.close());

  const appWithWebhook = async (name: string) => {
    const reply = await call('POST', `${ts.api}/oauth/clients`, { key: developer.key, json: { name, redirectUris: [REDIRECT], scopes: ['profile'], webhookUrl: `${receiver.origin}/hooks/${name}` } });
    expect(reply.status).toBe(201);
    const client: TestClient = { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: REDIRECT, scopes: ['profile'] };
    return { client, secret: reply.json.webhookSecret as string };
  };
  const hooksOf = (name: string) => receiver.received.filter((r) => r.path === `/hooks/${name}`);
  const verified = (secret: string, name: string) => hooksOf(name).map((r) => new Webhook(secret).verify(r.body, r.headers) as { type: string; data: Record<string, unknown> });
  /** The user allows the app in `agent`'s session and the app gets tokens. */
  const allow = async (agent: Agent, client: TestClient) => {
    const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'profile' });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    expect(tokens.status).toBe(200);
    return tokens.json as { access_token: string };
  };
  const outboxOf = (clientId: string) => ts.services.storage.db.selectFrom('event_outbox').selectAll().where('client_id', '=', clientId).execute();

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('tells each app holding a grant of a suspended user grant.revoked, reason admin, in the suspension\'s transaction', async () => {
      const [one, two, other] = [await appWithWebhook(`susp-1-${dialect}`), await appWithWebhook(`susp-2-${dialect}`), await appWithWebhook(`susp-other-${dialect}`)];
      const user = await seedUser(ts);
      const agent = await signIn(ts, user.username);
      const tokens = await allow(agent, one.client);
      await allow(agent, two.client);
      // Another user's grant of a third app: not this suspension's business.
      await allow(await signIn(ts, (await seedUser(ts)).username), other.client);

      // The event rows are part of the suspension: when they cannot be written, nothing of it happens.
      const restore = await failInserts(ts.services.storage.db, dialect, 'event_outbox');
      try {
        expect((await call('POST', `${ts.url}/admin/api/users/${user.userId}/suspend`, { key: admin.key })).status).toBe(500);
      } finally {
        await restore();
      }
      expect((await ts.services.userAdmin.get(user.userId)).suspendedAt).toBeNull();
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { key: tokens.access_token })).status).toBe(200);

      const suspended = await call('POST', `${ts.url}/admin/api/users/${user.userId}/suspend`, { key: admin.key });
      expect(suspended.status).toBe(200);
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { key: tokens.access_token })).status).toBe(401);
      await until(() => hooksOf(`susp-1-${dialect}`).length === 1 && hooksOf(`susp-2-${dialect}`).length === 1, { message: 'both deliveries' });
      for (const [name, app] of [[`susp-1-${dialect}`, one], [`susp-2-${dialect}`, two]] as const) {
        expect(verified(app.secret, name)).toEqual([expect.objectContaining({ type: 'grant.revoked', data: { user_id: user.userId, client_id: app.client.clientId, reason: 'admin' } })]);
      }
      expect(await outboxOf(other.client.clientId)).toEqual([]);
      // Suspending again ends nothing more and tells nobody twice.
      await ts.services.userAdmin.suspend(user.userId, admin.userId);
      expect(await outboxOf(one.client.clientId)).toHaveLength(1);
    });

    it('sends user.deleted when an admin deletes the user from the console', async () => {
      const app = await appWithWebhook(`deleted-${dialect}`);
      const user = await seedUser(ts);
      await allow(await signIn(ts, user.username), app.client);
      const console = await signIn(ts, admin.username);
      const reauthPage = await (await console.fetch('/admin/reauth?return_to=%2Fadmin%2Fusers')).text();
      expect((await console.fetch('/admin/reauth', { form: { _csrf: hiddenField(reauthPage, '_csrf'), return_to: '/admin/users', proof: PASSWORD } })).status).toBe(303);
      const path = `/admin/users/${user.userId}`;
      const page = await (await console.fetch(path)).text();
      expect((await console.fetch(`${path}/delete`, { form: { _csrf: hiddenField(page, '_csrf'), confirm: user.username } })).status).toBe(303);
      await until(() => hooksOf(`deleted-${dialect}`).length === 1, { message: 'the delivery' });
      expect(verified(app.secret, `deleted-${dialect}`)).toEqual([expect.objectContaining({ type: 'user.deleted', data: { user_id: user.userId, client_id: app.client.clientId } })]);
    });

    it('sends a suspended app nothing, holds its events untried, and sends them when it is unsuspended', async () => {
      const name = `held-${dialect}`;
      const app = await appWithWebhook(name);
      const user = await seedUser(ts);
      await allow(await signIn(ts, user.username), app.client);
      expect((await call('POST', `${ts.url}/admin/api/clients/${app.client.clientId}/suspend`, { key: admin.key })).status).toBe(200);
      // The suspension itself queues nothing (the app hears of nothing while suspended; see docs/integrating.md).
      expect(await outboxOf(app.client.clientId)).toEqual([]);

      // While suspended, what happens to its users is queued, and held.
      await ts.services.users.delete(user.userId);
      await until(async () => (await outboxOf(app.client.clientId))[0]?.last_error === HOLD.error, { message: 'the hold' });
      const [held] = await outboxOf(app.client.clientId);
      expect(held).toMatchObject({ type: 'user.deleted', state: 'pending', attempts: 0, claimed_until: null });
      expect(Number(held!.next_attempt_at)).toBeGreaterThan(Date.now() + HOLD.ms - 60_000);
      expect((await ts.services.events.deliveries(app.client.clientId))[0]!.tries).toEqual([]);
      // Woken again, the worker still sends nothing.
      ts.services.eventWorker.wake();
      const owner = await signIn(ts, developer.username);
      expect(await (await owner.fetch(`/dashboard/clients/${app.client.clientId}`)).text()).toContain('<td data-status>held: the app is suspended</td>');
      expect(hooksOf(name)).toHaveLength(0);

      expect((await call('POST', `${ts.url}/admin/api/clients/${app.client.clientId}/unsuspend`, { key: admin.key })).status).toBe(200);
      await until(() => hooksOf(name).length === 1, { message: 'the delivery after the unsuspension' });
      expect(verified(app.secret, name)).toEqual([expect.objectContaining({ type: 'user.deleted', data: { user_id: user.userId, client_id: app.client.clientId } })]);
      await until(async () => (await ts.services.events.deliveries(app.client.clientId))[0]?.state === 'delivered', { message: 'the delivered state' });
      const [delivered] = await ts.services.events.deliveries(app.client.clientId);
      expect(delivered).toMatchObject({ attempts: 1, lastError: null });
    });
  });
});
