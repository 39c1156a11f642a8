// SPEC §13's delivery throughput: 10,000 events queued at once in the outbox of one Serika (SQLite),
// delivered by its worker to a receiver on loopback; events/s, outbox lag (created → delivered), and
// the server's userinfo throughput while it delivers ÷ without (target ≥ 0.9), each run (BENCH_RUNS)
// its own pair of measurements; the medians are reported.
//   node bench/events.mjs            (npm run bench runs it too, as its 'events' section)
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { EventOutbox } from '../dist/events/outbox.js';
import { measure, median, startChild } from './lib.mjs';
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

/** One row of the report from per-run rows: medians (the p50/p99 of the median run). */
function combine(name, runs) {
  const byRps = [...runs].sort((a, b) => a.rps - b.rps);
  const mid = byRps[Math.floor(byRps.length / 2)];
  return {
    ...mid,
    name,
    rps: median(runs.map((r) => r.rps)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    cpuMsPerRequest: median(runs.map((r) => r.cpuMsPerRequest)),
    requests: runs.reduce((n, r) => n + r.requests, 0),
  };
}

/**
 * Returns the rows for the report (userinfo without and while delivering)
 * and the delivery figures. Each run queues EVENTS and, from the first
 * delivery on, measures userinfo while they are delivered; userinfo with the
 * outbox empty is measured before the first run and after each, and a run's
 * ratio is to the mean of the two either side of it, so a noisy minute on a
 * shared machine falls on both halves alike.
 */
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
  const outbox = new EventOutbox(seeded.storage.db);
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    /** The events, queued as changes queue them: in transactions of the database, 500 at a time. */
    const queue = async () => {
      for (let i = 0; i < EVENTS; i += 500) {
        for (;;) {
          try {
            await seeded.storage.db.transaction().execute(async (trx) => {
              for (let j = i; j < Math.min(EVENTS, i + 500); j++) await outbox.webhook(trx, 'grant.revoked', seeded.user.id, seeded.client.clientId, { reason: 'user', n: j });
            });
            break;
          } catch (error) {
            // A transaction that read before the server's worker wrote cannot write (SQLite's WAL snapshot): again.
            if (!String(error.code).startsWith('SQLITE_BUSY')) throw error;
          }
        }
      }
    };
    const delivered = async (since) =>
      Number((await seeded.storage.db.selectFrom('event_outbox').select((eb) => eb.fn.countAll().as('n')).where('state', '=', 'delivered').where('created_at', '>=', since).executeTakeFirstOrThrow()).n);
    const idleRuns = [await measure('userinfo, no events to deliver', server.child.pid, 1, userinfo, true)];
    const busyRuns = [];
    const deliveries = [];
    for (let run = 0; run < runs; run++) {
      const before = hooks.count();
      const queuedAt = Date.now();
      await queue();
      // Measured from the first delivery (the worker's poll finds events another process queued within 2 s).
      while (hooks.count() === before) await wait(5);
      const atStart = hooks.count() - before;
      const busy = await measure('userinfo, while delivering events', server.child.pid, 1, userinfo, true);
      const atEnd = hooks.count() - before;
      while ((await delivered(queuedAt)) < EVENTS) await wait(50);
      // Without, again once they are delivered: each ratio is to the mean of the measurements either side of it.
      const idle = await measure('userinfo, no events to deliver', server.child.pid, 1, userinfo, true);
      const rows = await seeded.storage.db
        .selectFrom('event_outbox')
        .select(['created_at', 'delivered_at'])
        .where('state', '=', 'delivered')
        .where('created_at', '>=', queuedAt)
        .execute();
      const lags = rows.map((r) => Number(r.delivered_at) - Number(r.created_at)).sort((a, b) => a - b);
      const first = Math.min(...rows.map((r) => Number(r.delivered_at)));
      const last = Math.max(...rows.map((r) => Number(r.delivered_at)));
      const delivery = {
        events: rows.length,
        eventsPerSecond: rows.length / ((last - first) / 1000),
        lagP50Ms: percentile(lags, 50),
        lagMaxMs: lags.at(-1),
        duringLoad: atEnd - atStart,
        // Delivered after the load ended, per second: what the worker does with the loop to itself.
        afterLoadPerSecond: (rows.length - atEnd) / ((last - first) / 1000 - duration),
        throughout: atEnd < EVENTS,
        without: (idle.rps + idleRuns.at(-1).rps) / 2,
        ratio: busy.rps / ((idle.rps + idleRuns.at(-1).rps) / 2),
      };
      process.stdout.write(
        `  run ${run + 1}: userinfo ${delivery.without.toFixed(0)} req/s without (before and after), ${busy.rps.toFixed(0)} while delivering: ${delivery.ratio.toFixed(2)}; ` +
          `${delivery.events} events at ${delivery.eventsPerSecond.toFixed(0)} events/s (${delivery.duringLoad} during the load, then ${delivery.afterLoadPerSecond.toFixed(0)}/s), ` +
          `lag p50 ${(delivery.lagP50Ms / 1000).toFixed(1)} s, max ${(delivery.lagMaxMs / 1000).toFixed(1)} s${delivery.throughout ? '' : ' (delivery ended before the load did)'}\n`,
      );
      idleRuns.push(idle);
      busyRuns.push(busy);
      deliveries.push(delivery);
    }
    const delivery = Object.fromEntries(['events', 'eventsPerSecond', 'lagP50Ms', 'lagMaxMs', 'duringLoad', 'afterLoadPerSecond', 'ratio'].map((k) => [k, median(deliveries.map((d) => d[k]))]));
    delivery.ratios = deliveries.map((d) => d.ratio);
    const rows = [combine('userinfo, no events to deliver', idleRuns), combine('userinfo, while delivering events', busyRuns)];
    for (const row of rows) process.stdout.write(`  ${row.name.padEnd(44)} ${row.rps.toFixed(0).padStart(7)} req/s (median of ${runs})\n`);
    process.stdout.write(
      `  medians of ${runs} runs: ${delivery.eventsPerSecond.toFixed(0)} events/s, outbox lag p50 ${(delivery.lagP50Ms / 1000).toFixed(1)} s, max ${(delivery.lagMaxMs / 1000).toFixed(1)} s; ` +
        `userinfo while delivering ÷ without ${delivery.ratio.toFixed(2)} (runs: ${delivery.ratios.map((r) => r.toFixed(2)).join(', ')}; goal ≥ 0.9)\n`,
    );
    return { rows, delivery };
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
