import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { crashBedOn } from '../helpers/durability.js';
import { until } from '../helpers/until.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

/** SPEC §13: an event committed with its change is delivered even when the process dies before delivering it. */
describe.each(DIALECTS)('webhooks survive kill -9 between the change and the delivery (%s)', (dialect) => {
  const { databaseUrl, withServices } = crashBedOn(dialect, dialectAvailable(dialect));
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => receiver?.close());

  it.skipIf(!dialectAvailable(dialect))('delivers after the restart the event whose first try the dead process held', async () => {
    const seeded = await withServices(async (s) => {
      const user = await s.users.create({ username: 'killed', password: 'password123' });
      const { key } = await s.apiKeys.create(user.id, 'k');
      const client = await s.clients.create(user.id, { name: 'Hooked', redirectUris: ['https://h.example/cb'], scopes: ['profile', 'characters'] });
      // Set as the API would with WEBHOOKS_ALLOW_PRIVATE (this setup's services run without it); no KEY_ENCRYPTION_SECRETS: stored plain.
      await s.storage.db.updateTable('oauth_clients').set({ webhook_url: `${receiver.origin}/hook`, webhook_secret: SECRET }).where('id', '=', client.clientId).execute();
      await s.grants.allow(user.id, client.clientId, ['profile', 'characters']);
      return { key, userId: user.id, clientId: client.clientId };
    });
    const env = { DATABASE_URL: databaseUrl(), WEBHOOKS_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'warn' };
    // The receiver never answers the first try: the process dies while it holds the event.
    receiver.answer = () => (receiver.received.length === 1 ? 'hang' : { status: 204 });
    const first = await spawnServer(env);
    // The change: removing a scope ends the grant holding it (grant.revoked, client_changed), in one transaction.
    const patched = await fetch(`${first.url}/api/openai/v1/oauth/clients/${seeded.clientId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${seeded.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['profile'] }),
    });
    expect(patched.status).toBe(200);
    await until(() => receiver.received.length === 1, { message: 'the first try' });
    await first.stop('SIGKILL');

    const held = await withServices((s) => s.storage.db.selectFrom('event_outbox').selectAll().execute());
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ state: 'sending', attempts: 0, type: 'grant.revoked' });
    // The dead process's claim lasts 90 s (CLAIM_MS, events/outbox.ts). A claim is only ever compared with the
    // clock of whoever claims next (storage/outbox.ts: 'sending' and claimed_until < now); besides that it is only
    // the dead process's token for recording its outcome, which it never will. So moving claimed_until into the
    // past leaves the database as 90 s of waiting would: the restarted server's worker meets the expired claim it
    // would meet then, without the test waiting for it.
    await withServices((s) => s.storage.db.updateTable('event_outbox').set({ claimed_until: Date.now() - 1 }).execute());

    const second = await spawnServer(env);
    try {
      await until(() => receiver.received.length === 2, { timeoutMs: 10_000, message: 'the delivery after the restart' });
      const [hung, delivered] = receiver.received;
      expect(delivered!.headers['webhook-id']).toBe(hung!.headers['webhook-id']);
      expect(new Webhook(SECRET).verify(delivered!.body, delivered!.headers)).toMatchObject({ type: 'grant.revoked', data: { user_id: seeded.userId, client_id: seeded.clientId, reason: 'client_changed' } });
      await until(async () => (await withServices((s) => s.events.deliveries(seeded.clientId)))[0]?.state === 'delivered', { message: 'the delivered state' });
    } finally {
      await second.stop();
    }
    expect(receiver.received).toHaveLength(2);
  }, 60_000);
});
