import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { usernameKey } from './usernames.js';

/** Failures before any delay, the first delay, and the ceiling: slowed more and more, never locked out (SPEC §2). */
const FREE_FAILURES = 3;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;
/** A quiet quarter of an hour forgives earlier failures. */
const FORGET_AFTER_MS = 15 * 60 * 1000;

/**
 * Which counted failures become audit events: each up to the slowdown, then the burst that
 * starts it and every doubling after (8, 16, 32…), so a stranger guessing cannot push the
 * account's other events off its Activity page.
 */
export function failureEvents(failures: number): { failed: boolean; throttled: boolean } {
  return { failed: failures <= FREE_FAILURES, throttled: failures === FREE_FAILURES || (failures > FREE_FAILURES && (failures & (failures - 1)) === 0) };
}

/**
 * A username's key in the failures table, or null for a string with ':' (never a username, SPEC §2): other keys
 * of the table have one (`otp:<user id>`, device codes), so a name typed at /login cannot count under them.
 */
const nameKey = (username: string) => (username.includes(':') ? null : usernameKey(username).slice(0, 64));

function delayAfter(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(BASE_DELAY_MS * 2 ** (failures - FREE_FAILURES), MAX_DELAY_MS);
}

/**
 * One more failure under a key of the failures table (sign-ins per username, device codes per
 * user); a count older than `forgetAfterMs` starts again at 1. Returns the count now.
 */
export async function countFailure(db: Kysely<Database>, key: string, now: number, forgetAfterMs: number): Promise<number> {
  const row = await db
    .insertInto('login_failures')
    .values({ username_key: key, failures: 1, last_failure_at: now })
    .onConflict((oc) =>
      oc.column('username_key').doUpdateSet((eb) => ({
        failures: eb
          .case()
          .when('login_failures.last_failure_at', '<', now - forgetAfterMs)
          .then(1)
          .else(eb('login_failures.failures', '+', 1))
          .end(),
        last_failure_at: now,
      })),
    )
    .returning('failures')
    .executeTakeFirst();
  return Number(row?.failures ?? 1);
}

/** The count under a key of the failures table and when the last was counted (device codes read their wait from it). */
export async function failuresUnder(db: Kysely<Database>, key: string): Promise<{ failures: number; lastFailureAt: number } | undefined> {
  const row = await db.selectFrom('login_failures').select(['failures', 'last_failure_at']).where('username_key', '=', key).executeTakeFirst();
  return row && { failures: row.failures, lastFailureAt: row.last_failure_at };
}

/** Takes one counted failure back under a key (a try counted before it was known to be right), never below 0. */
export async function uncountFailure(db: Kysely<Database>, key: string): Promise<void> {
  await db
    .updateTable('login_failures')
    .set((eb) => ({ failures: eb('failures', '-', 1) }))
    .where('username_key', '=', key)
    .where('failures', '>', 0)
    .execute();
}

/**
 * Escalating delays per username, kept for names that exist and names that
 * do not alike, so the delay reveals nothing about which usernames exist.
 */
export class LoginThrottle {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async delayFor(username: string): Promise<number> {
    const key = nameKey(username);
    return key === null ? 0 : this.delayForKey(key);
  }

  /**
   * Counts a failure; returns the failures now counted for the name (a quiet quarter hour restarts at 1).
   * A name no account can have is not counted (1): the per-address limit still holds its guesses.
   */
  async recordFailure(username: string): Promise<number> {
    const key = nameKey(username);
    return key === null ? 1 : this.recordFailureFor(key);
  }

  /**
   * The same escalation under another key: second-step codes count per user (`otp:<user id>`,
   * SPEC §11 "guesses are throttled like passwords"), apart from the password's count.
   */
  async delayForKey(key: string): Promise<number> {
    const row = await failuresUnder(this.db, key);
    if (!row || this.now() - row.lastFailureAt > FORGET_AFTER_MS) return 0;
    return delayAfter(row.failures);
  }

  /**
   * Takes a try under a key, counted as a failure before it is checked (clearKey when it was right): the
   * failures now counted, or the milliseconds still to wait while the delay of those so far is in force.
   * One compare-and-set on the count and time it read, so of tries sent together only one passes each
   * state and the others are told to wait: a delay refuses, it does not merely slow.
   */
  async takeTry(key: string): Promise<{ failures: number } | { waitMs: number }> {
    const now = this.now();
    const row = await failuresUnder(this.db, key);
    const fresh = row && now - row.lastFailureAt <= FORGET_AFTER_MS ? row : undefined;
    const wait = fresh ? fresh.lastFailureAt + delayAfter(fresh.failures) - now : 0;
    if (wait > 0) return { waitMs: wait };
    const failures = (fresh?.failures ?? 0) + 1;
    const taken = row
      ? await this.db
          .updateTable('login_failures')
          .set({ failures, last_failure_at: now })
          .where('username_key', '=', key)
          .where('failures', '=', row.failures)
          .where('last_failure_at', '=', row.lastFailureAt)
          .returning('failures')
          .executeTakeFirst()
      : await this.db.insertInto('login_failures').values({ username_key: key, failures, last_failure_at: now }).onConflict((oc) => oc.doNothing()).returning('failures').executeTakeFirst();
    return taken ? { failures } : { waitMs: Math.max(1_000, delayAfter(failures)) };
  }

  /** takeTry under a username's key (a name no account can have: always taken, never counted). */
  async takeNameTry(username: string): Promise<{ failures: number } | { waitMs: number }> {
    const key = nameKey(username);
    return key === null ? { failures: 1 } : this.takeTry(key);
  }

  async recordFailureFor(key: string): Promise<number> {
    return countFailure(this.db, key, this.now(), FORGET_AFTER_MS);
  }

  async clearKey(key: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('username_key', '=', key).execute();
  }

  /** Failures already forgiven (a quiet quarter hour), for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('login_failures').where('last_failure_at', '<', now - FORGET_AFTER_MS).executeTakeFirst()).numDeletedRows);
  }

  async clear(username: string): Promise<void> {
    const key = nameKey(username);
    if (key !== null) await this.clearKey(key);
  }
}
