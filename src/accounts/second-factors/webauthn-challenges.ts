import type { Kysely } from 'kysely';
import { sha256Hex } from '../../security/secrets.js';
import type { Database } from '../../storage/schema.js';

/** What a challenge was made for: adding a passkey, signing in with one, or the second step after a password. */
export type CeremonyPurpose = 'register' | 'sign_in' | 'second_step';

/** Long enough for the browser's prompt (its timeout is shorter), short enough that an unused one dies soon. */
const CHALLENGE_TTL_MS = 5 * 60 * 1000;

/**
 * WebAuthn challenges (WebAuthn §13.4.3: random, at least 16 bytes, used
 * once), kept in the database so any instance can check the answer. Each is
 * bound to the browser it was given to (its session, half-session or sign-in
 * cookie, as `binding`), stored as SHA-256, and taken, deleted, by the first
 * answer that carries it, whether that answer then verifies or not.
 */
export class WebAuthnChallenges {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async issue(challenge: string, purpose: CeremonyPurpose, binding: string, userId: string | null): Promise<void> {
    const now = this.now();
    await this.db
      .insertInto('webauthn_challenges')
      .values({ challenge_hash: sha256Hex(challenge), purpose, binding, user_id: userId, created_at: now, expires_at: now + CHALLENGE_TTL_MS })
      .execute();
  }

  /**
   * Takes the challenge an answer carries: true when it was issued for this purpose, to this browser (and
   * user, when one was named) and has not expired. Deleted either way: a second answer with it finds nothing.
   */
  async take(challenge: string, purpose: CeremonyPurpose, binding: string, userId: string | null): Promise<boolean> {
    const row = await this.db
      .deleteFrom('webauthn_challenges')
      .where('challenge_hash', '=', sha256Hex(challenge))
      .where('purpose', '=', purpose)
      .where('binding', '=', binding)
      .returning(['user_id', 'expires_at'])
      .executeTakeFirst();
    return row !== undefined && Number(row.expires_at) > this.now() && row.user_id === userId;
  }

  /** Expired challenges, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }
}
