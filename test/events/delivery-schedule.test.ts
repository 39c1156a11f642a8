import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventOutbox } from '../../src/events/outbox.js';
import { EventSender } from '../../src/events/sender.js';
import { RETRY_SCHEDULE_MS } from '../../src/events/types.js';
import { EventWorker } from '../../src/events/worker.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const SECRET = 'whsec_' + Buffer.alloc(32, 9).toString('base64');

/**
 * SPEC §13's schedule and timeout, through the real worker, sender and outbox on a real database, with the
 * clock injected: each retry is due exactly when the schedule says (not a millisecond before), and a receiver
 * that never answers is a failed try once the timeout (shortened here) passes.
 */
describe.each(DIALECTS)('webhook retries and timeout (%s)', (dialect) => {
  let ts: TestServer;
  let receiver: Receiver;
  let clock: { t: number };
  let outbox: EventOutbox;
  let worker: EventWorker;
  let userId: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    // The server's own worker runs on the real clock: only this test's worker may claim.
    await ts.services.eventWorker.close();
    receiver = await startReceiver();
    userId = (await seedUser(ts)).userId;
    clock = { t: Date.now() };
    const now = () => clock.t;
    outbox = new EventOutbox(ts.services.storage.db, now, () => worker.wake());
    worker = new EventWorker(
      {
        outbox,
        sender: new EventSender({ allowPrivate: true, timeoutMs: 300 }),
        target: async (clientId) => ({ webhookUrl: `${receiver.origin}/${clientId}`, webhookSecret: SECRET, backchannelLogoutUri: null, idTokenSigningAlg: null, suspended: false }),
        logoutToken: () => Promise.reject(new Error('no logout events here')),
        now,
      },
      // Never polls by itself: each read below is a wake().
      { pollMs: 3_600_000 },
    );
    worker.start(pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await worker?.close();
    await receiver?.close();
    await ts?.close();
  });

  const client = async (name: string) => (await ts.services.clients.create(userId, { name, redirectUris: ['https://app.example.com/cb'], scopes: ['profile'] })).clientId;
  const row = async (clientId: string) => ts.services.storage.db.selectFrom('event_outbox').selectAll().where('client_id', '=', clientId).executeTakeFirstOrThrow();
  const sentTo = (clientId: string) => receiver.received.filter((r) => r.path === `/${clientId}`);

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('tries again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then fails', async () => {
      const clientId = await client('Failing');
      const previous = receiver.answer;
      receiver.answer = (r) => (r.path === `/${clientId}` ? { status: 500 } : previous(r));
      await outbox.test(userId, clientId);
      for (const [i, wait] of RETRY_SCHEDULE_MS.entries()) {
        await until(async () => (await row(clientId)).attempts === i + 1, { message: `try ${i + 1}` });
        const event = await row(clientId);
        expect(event.state).toBe('pending');
        expect(Number(event.next_attempt_at) - clock.t).toBe(wait);
        // A millisecond early, nothing is due.
        clock.t += wait - 1;
        expect(await outbox.claimDue(10)).toEqual([]);
        clock.t += 1;
        worker.wake();
      }
      await until(async () => (await row(clientId)).attempts === 8, { message: 'the last try' });
      await until(async () => (await row(clientId)).state === 'failed', { message: 'the failed state' });
      clock.t += 100 * 3_600_000;
      expect(await outbox.claimDue(10)).toEqual([]);
      expect(sentTo(clientId)).toHaveLength(8);
      const [delivery] = await outbox.deliveries(clientId);
      expect(delivery!.tries.map((t) => t.statusCode)).toEqual(Array(8).fill(500));
      // Each try was the same event, signed afresh at its (injected) time: the library's verify would refuse those
      // timestamps as hours away from the real clock, so the signature is checked by signing again.
      const times = sentTo(clientId).map((sent) => {
        expect(sent.headers['webhook-id']).toBe(delivery!.id);
        const at = new Date(Number(sent.headers['webhook-timestamp']) * 1000);
        expect(sent.headers['webhook-signature']).toBe(new Webhook(SECRET).sign(delivery!.id, at, sent.body));
        return at.getTime();
      });
      expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([...RETRY_SCHEDULE_MS]);
      receiver.answer = previous;
    });

    it('counts a receiver that does not answer within the timeout as a failed try, retried on the schedule', async () => {
      const clientId = await client('Silent');
      const previous = receiver.answer;
      receiver.answer = (r) => (r.path === `/${clientId}` ? (sentTo(clientId).length === 1 ? 'hang' : { status: 204 }) : previous(r));
      await outbox.test(userId, clientId);
      await until(async () => (await row(clientId)).attempts === 1, { message: 'the timed-out try' });
      const [timedOut] = await outbox.deliveries(clientId);
      expect(timedOut).toMatchObject({ state: 'pending', lastStatus: null, lastError: 'no answer within 0.3 s' });
      expect(timedOut!.tries).toEqual([expect.objectContaining({ attempt: 1, statusCode: null, error: 'no answer within 0.3 s' })]);
      expect(timedOut!.nextAttemptAt - clock.t).toBe(RETRY_SCHEDULE_MS[0]);
      clock.t += RETRY_SCHEDULE_MS[0];
      worker.wake();
      await until(async () => (await row(clientId)).state === 'delivered', { message: 'the second try' });
      expect(sentTo(clientId)).toHaveLength(2);
      receiver.answer = previous;
    });
  });
});
