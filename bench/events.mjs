// SPEC §13's delivery throughput: 10,000 events queued at once in the outbox of one Serika (SQLite),
// delivered by its worker to a receiver on loopback; events/s, outbox lag (created → delivered), and
// the server's userinfo throughput while it delivers ÷ without (target ≥ 0.9).
//   node bench/events.mjs            (npm run bench runs it too, as its 'events' section)
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { EventOutbox } from '../dist/events/outbox.js';
import { measure, startChild } from './lib.mjs';
import { freshDatabase, seed, startSerika } from './serika.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

/** A receiver that answers 204 at once and counts, so the figures are Serika's. */
async function receiver() {
  let count = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      count++;
      response.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hooks`, count: () => count, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Returns the rows for the report (userinfo without and while delivering) and the delivery figures. */
export async function eventsBench({ runs = 3, duration = 5, connections = 32, upstreamUrl }) {
  const db = await freshDatabase('sqlite');
  const seeded = await seed(db.url);
  const hooks = await receiver();
  await seeded.storage.db
    .updateTable('oauth_clients')
    .set({ webhook_url: hooks.url, webhook_secret: 'whsec_' + Buffer.alloc(32, 1).toString('base64') })
    .where('id', '=', seeded.client.clientId)
    .execute();
  const server = await startSerika(db.url, upstreamUrl, 1, { WEBHOOKS_ALLOW_PRIVATE: 'true' });
  const api = `${server.info.url}/api/openai/v1`;
  const userinfo = () => ({ duration, connections, url: `${api}/oauth/userinfo`, headers: { authorization: `Bearer ${seeded.accessToken}` } });
  try {
    const idle = await measure('userinfo, no events to deliver', server.child.pid, runs, userinfo);
    // The events, queued as changes queue them: in transactions of the database, 500 at a time.
    const outbox = new EventOutbox(seeded.storage.db);
    const queuedAt = Date.now();
    for (let i = 0; i < EVENTS; i += 500) {
      await seeded.storage.db.transaction().execute(async (trx) => {
        for (let j = i; j < Math.min(EVENTS, i + 500); j++) await outbox.webhook(trx, 'grant.revoked', seeded.user.id, seeded.client.clientId, { reason: 'user', n: j });
      });
    }
    // Measured while the worker (its poll finds them within 2 s) delivers them.
    const busy = await measure('userinfo, while delivering events', server.child.pid, 1, userinfo);
    while (hooks.count() < EVENTS) await new Promise((resolve) => setTimeout(resolve, 100));
    const rows = await seeded.storage.db.selectFrom('event_outbox').select(['created_at', 'delivered_at']).where('state', '=', 'delivered').execute();
    const lags = rows.map((r) => Number(r.delivered_at) - Number(r.created_at)).sort((a, b) => a - b);
    const first = Math.min(...rows.map((r) => Number(r.delivered_at)));
    const last = Math.max(...rows.map((r) => Number(r.delivered_at)));
    const delivery = {
      events: rows.length,
      eventsPerSecond: rows.length / ((last - first) / 1000),
      lagP50Ms: percentile(lags, 50),
      lagMaxMs: lags.at(-1),
      queuedToLastMs: last - queuedAt,
      ratio: busy.rps / idle.rps,
    };
    process.stdout.write(
      `  delivered ${delivery.events} events: ${delivery.eventsPerSecond.toFixed(0)} events/s, outbox lag p50 ${(delivery.lagP50Ms / 1000).toFixed(1)} s, max ${(delivery.lagMaxMs / 1000).toFixed(1)} s; userinfo while delivering ÷ without ${delivery.ratio.toFixed(2)} (goal ≥ 0.9)\n`,
    );
    return { rows: [idle, busy], delivery };
  } finally {
    await server.stop();
    await hooks.close();
    await seeded.storage.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const upstream = await startChild(['bench/upstream.mjs']);
  try {
    await eventsBench({ runs: Number(process.env.BENCH_RUNS ?? 3), duration: Number(process.env.BENCH_DURATION ?? 5), upstreamUrl: upstream.info.url });
  } finally {
    await upstream.stop();
  }
  process.exit(0);
}
