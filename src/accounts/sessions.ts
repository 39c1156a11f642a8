import type { Kysely } from 'kysely';
import { randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import { formatAmr, parseAmr, PASSWORD_ONLY, type AuthMethod } from './auth-methods.js';

/** Sign-in sessions last a week; signing in again starts a new one. */
const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface SessionUser {
  userId: string;
  username: string;
  avatar: string | null;
  /** When the user signed in (the session's start), ms: OIDC auth_time, max_age. */
  authTime: number;
  /** How the session was established (RFC 8176): ID tokens' amr and acr, acr_values. */
  amr: AuthMethod[];
}

/**
 * Browser sessions live in the database, so any instance serves any step
 * (SPEC §2). The cookie holds a 256-bit random id; only its hash is stored.
 */
export class SessionsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session id every sign-in (UI-06): the previous one, if any, is destroyed. */
  async start(userId: string, previous?: string, amr: readonly AuthMethod[] = PASSWORD_ONLY): Promise<{ id: string; expiresAt: number }> {
    if (previous) await this.end(previous);
    const id = randomSecret('');
    const now = this.now();
    const expiresAt = now + SESSION_TTL_MS;
    await this.db.insertInto('sessions').values({ id_hash: sha256Hex(id), user_id: userId, created_at: now, expires_at: expiresAt, amr: formatAmr(amr) }).execute();
    return { id, expiresAt };
  }

  async find(id: string): Promise<SessionUser | undefined> {
    if (id.length !== 43) return undefined;
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['users.id as userId', 'users.username as username', 'users.avatar as avatar', 'sessions.created_at as authTime', 'sessions.amr as amr'])
      .where('sessions.id_hash', '=', sha256Hex(id))
      .where('sessions.expires_at', '>', this.now())
      .executeTakeFirst();
    return row && { ...row, amr: parseAmr(row.amr) };
  }

  async end(id: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', sha256Hex(id)).execute();
  }

  /** Expired sessions, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }

  async endAllForUser(userId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }
}
