import type { Kysely } from 'kysely';
import { randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import { formatAmr, parseAmr, type AuthMethod } from './auth-methods.js';

/** Long enough to open the app and type a code; a half-session is no session. */
const PENDING_TTL_MS = 10 * 60 * 1000;
/** Codes one half-session may try; past them, the password again (a new half-session, a new count). */
const CODE_TRIES = 5;

/** What is asked next: a second factor's code, or setting one up first (MFA=required). */
type PendingStage = 'verify' | 'enroll';

export interface PendingSignIn {
  userId: string;
  /** What the user proved so far. */
  amr: AuthMethod[];
  stage: PendingStage;
  returnTo: string | null;
}

/**
 * Half-sessions between the password and the second step (SPEC §11): the
 * browser holds a 256-bit id in its own cookie, only the hash is stored, and
 * nothing but the second step's pages reads it. The session proper starts
 * once the step is passed.
 */
export class PendingSignIns {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async start(sign: PendingSignIn, previous?: string): Promise<{ id: string; expiresAt: number }> {
    if (previous) await this.end(previous);
    const id = randomSecret('');
    const now = this.now();
    const expiresAt = now + PENDING_TTL_MS;
    await this.db
      .insertInto('pending_sign_ins')
      .values({ id_hash: sha256Hex(id), user_id: sign.userId, amr: formatAmr(sign.amr), stage: sign.stage, return_to: sign.returnTo, created_at: now, expires_at: expiresAt })
      .execute();
    return { id, expiresAt };
  }

  async find(id: string): Promise<PendingSignIn | undefined> {
    if (id.length !== 43) return undefined;
    const row = await this.db.selectFrom('pending_sign_ins').selectAll().where('id_hash', '=', sha256Hex(id)).where('expires_at', '>', this.now()).executeTakeFirst();
    return row && { userId: row.user_id, amr: parseAmr(row.amr), stage: row.stage, returnTo: row.return_to };
  }

  /**
   * Takes one of the half-session's CODE_TRIES before its code is checked, in one
   * conditional UPDATE, so tries sent together cannot all pass the count: the tries
   * left after this one, or null when none was left (the half-session is then ended).
   * A right code ends the half-session, so every try taken is a wrong one or the last.
   */
  async takeCodeTry(id: string): Promise<number | null> {
    const row = await this.db
      .updateTable('pending_sign_ins')
      .set((eb) => ({ failures: eb('failures', '+', 1) }))
      .where('id_hash', '=', sha256Hex(id))
      .where('expires_at', '>', this.now())
      .where('failures', '<', CODE_TRIES)
      .returning('failures')
      .executeTakeFirst();
    if (row) return CODE_TRIES - Number(row.failures);
    await this.end(id);
    return null;
  }

  async end(id: string): Promise<void> {
    await this.db.deleteFrom('pending_sign_ins').where('id_hash', '=', sha256Hex(id)).execute();
  }

  /** Every half-session of the user (a new password: the old one proves nothing), in the caller's transaction if given. */
  async endAllForUser(userId: string, executor: Kysely<Database> = this.db): Promise<void> {
    await executor.deleteFrom('pending_sign_ins').where('user_id', '=', userId).execute();
  }

  /** Expired half-sessions, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('pending_sign_ins').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }
}
