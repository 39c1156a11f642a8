import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import { countFailure, failuresUnder, uncountFailure } from '../../accounts/login-throttle.js';

/** SPEC §9: 5 wrong codes per user per 10 minutes, then a wait (RFC 8628 §5.1: user codes are guessable otherwise). */
export const MAX_WRONG_CODES = 5;
export const WRONG_CODE_WINDOW_MS = 10 * 60_000;

/**
 * Wrong user codes per signed-in user, counted in the database (every
 * instance sees them) in the table of failed sign-ins under a key of their
 * own, through the accounts domain's functions (it owns that table); the
 * pruner forgets them with the rest. A right code does not clear the count:
 * the limit is per 10 minutes, and a guesser could otherwise reset it by
 * deciding a code of their own every few guesses.
 */
export class DeviceCodeAttempts {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  private key(userId: string): string {
    return `device:${userId}`;
  }

  /** Milliseconds the user must wait before trying another code; 0 when they may try now. */
  async waitFor(userId: string): Promise<number> {
    const row = await failuresUnder(this.db, this.key(userId));
    if (!row || row.failures < MAX_WRONG_CODES) return 0;
    return Math.max(0, row.lastFailureAt + WRONG_CODE_WINDOW_MS - this.now());
  }

  /**
   * Counts a try before its code is looked up (a quiet window starts the count again) and
   * returns how many are counted now: codes sent together then cannot all pass the limit's
   * check before any of them is counted, since each count is one atomic upsert.
   */
  async take(userId: string): Promise<number> {
    return countFailure(this.db, this.key(userId), this.now(), WRONG_CODE_WINDOW_MS);
  }

  /** Gives back the try of a code that was right (only a wrong code counts). */
  async giveBack(userId: string): Promise<void> {
    await uncountFailure(this.db, this.key(userId));
  }
}
