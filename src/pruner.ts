import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Services } from './services.js';

/** PostgreSQL advisory lock key of the pruner: one instance prunes at a time. */
const PRUNE_LOCK = 0x5e71ca01;
const HOUR_MS = 3_600_000;

export type PruneCounts = Record<string, number>;

const DAY_MS = 86_400_000;

/**
 * Deletes what can never be used again: expired pending requests, codes and
 * tokens (a day past expiry), sessions, forgiven login failures, and
 * ownerless clients unused for 30 days (SPEC §8), owners of responses the
 * upstream no longer keeps (SPEC §14), in one transaction; on
 * PostgreSQL it first takes an advisory lock and returns null when another
 * instance holds it. Then, in batches of their own, audit events older than
 * AUDIT_RETENTION_DAYS (SPEC §1). Usage rows are kept: they are the bill.
 */
export async function pruneOnce(services: Services): Promise<PruneCounts | null> {
  const counts = await pruneExpired(services);
  if (!counts) return null;
  // Outside the transaction: a year of events is many batches, and one transaction would hold SQLite's write lock throughout.
  const auditEvents = await services.audit.pruneBefore(services.now() - services.config.auditRetentionDays * DAY_MS);
  services.telemetry.pruned(Date.now());
  return { ...counts, auditEvents };
}

async function pruneExpired(services: Services): Promise<PruneCounts | null> {
  const { storage, oauth, sessions, throttle, clients, devices, budgets, pendingSignIns } = services;
  return storage.db.transaction().execute(async (trx) => {
    if (storage.dialect === 'postgres') {
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${PRUNE_LOCK}) as locked`.execute(trx);
      if (!rows[0]?.locked) return null;
    }
    const now = services.now();
    return {
      ...(await oauth.prune(trx, now)),
      deviceCodes: await devices.prune(trx, now),
      sessions: await sessions.prune(trx, now),
      emailLinks: await services.emailLinks.prune(trx, now),
      mailSentOrGivenUp: await services.mailOutbox.prune(trx, now),
      eventsDeliveredOrFailed: await services.events.prune(trx, now),
      sessionClients: await services.sessionClients.prune(trx),
      loginFailures: await throttle.prune(trx, now),
      pendingSignIns: await pendingSignIns.prune(trx, now),
      webauthnChallenges: await services.webauthnChallenges.prune(trx, now),
      unusedOwnerlessClients: await clients.pruneOwnerless(trx, now),
      budgetHoldsReleased: await budgets.releaseExpired(trx, now),
      cacheInvalidations: await services.invalidations.prune(trx, Date.now()),
      responseOwners: await services.responseOwners.prune(trx, now),
    };
  });
}

/** Prunes hourly (first within a few minutes of start, jittered so instances spread out); returns the stop function. */
export function schedulePruning(services: Services, log: FastifyBaseLogger, intervalMs = HOUR_MS): () => void {
  let timer: NodeJS.Timeout;
  const run = async () => {
    try {
      const counts = await pruneOnce(services);
      if (counts) log.info({ pruned: counts }, 'pruned expired rows');
    } catch (error) {
      log.warn({ err: error }, 'pruning failed; trying again at the next interval');
    }
    timer = setTimeout(() => void run(), intervalMs).unref();
  };
  // run never rejects: a failed pass is logged and the next one still scheduled.
  timer = setTimeout(() => void run(), 60_000 + Math.random() * 120_000).unref();
  return () => clearTimeout(timer);
}
