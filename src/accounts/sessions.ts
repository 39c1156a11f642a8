import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { AuditService } from '../audit/service.js';
import { notFound } from '../errors.js';
import type { RequestOrigin } from '../http/request-context.js';
import { randomId, randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import { USER_AGENT_MAX, browserName } from './user-agent.js';
import { formatAmr, parseAmr, PASSWORD_ONLY, type AuthMethod } from './auth-methods.js';

/** Sign-in sessions last a week; signing in again starts a new one. */
const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** last_seen_at is rewritten at most this often per session: a page view costs no write (SPEC §11). */
export const LAST_SEEN_EVERY_MS = 60 * 1000;

/** A session as the Account page names it: this many hex digits of its id's hash (64 bits, never the id). */
const HANDLE = /^[0-9a-f]{16}$/;

export function sessionHandle(idHash: string): string {
  return idHash.slice(0, 16);
}

export interface SessionUser {
  userId: string;
  username: string;
  avatar: string | null;
  /** When the user signed in (the session's start), ms: OIDC auth_time, max_age. */
  authTime: number;
  /** How the session was established (RFC 8176): ID tokens' amr and acr, acr_values. */
  amr: AuthMethod[];
  /** The session's id in ID and logout tokens (SPEC §13), never the cookie's; null for sessions from before 0024. */
  sid: string | null;
}

/** A session that just ended, as the hook hears of it (in the transaction that ended it). */
export interface EndedSession {
  userId: string;
  sid: string | null;
}

/**
 * Whatever must happen when sessions end, in their transaction: the
 * back-channel logout of the apps that got ID tokens in them (SPEC §13).
 * Every way a session ends (sign-out, end_session, sign out everywhere or
 * one device, a password change or reset, suspension) goes through
 * SessionsService.ended, so a new way hooks in by calling it.
 */
export type SessionsEndedHook = (trx: Kysely<Database>, ended: readonly EndedSession[]) => Promise<void>;

/** Where a session was started from: the browser's User-Agent and the client address TRUST_PROXY gives. */
export interface SessionOrigin {
  userAgent?: string | undefined;
  ip?: string | undefined;
}

/** One of a user's signed-in devices (the Account page). */
export interface DeviceSession {
  handle: string;
  browser: string;
  ip: string | null;
  signedInAt: number;
  lastSeenAt: number;
}

/** Which of a user's sessions to end: one (by handle, never the current one), all but the current, or all. */
export type Ending = { handle: string } | 'others' | 'all';

type Where = (eb: ExpressionBuilder<Database, 'sessions'>) => Expression<SqlBool>;

/**
 * Browser sessions live in the database, so any instance serves any step
 * (SPEC §2). The cookie holds a 256-bit random id; only its hash is stored.
 */
export class SessionsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly audit: AuditService,
    private readonly onEnded: SessionsEndedHook = async () => {},
  ) {}

  /** A new session id every sign-in (UI-06): the previous one, if any, is destroyed. */
  async start(userId: string, previous?: string, from: SessionOrigin = {}, amr: readonly AuthMethod[] = PASSWORD_ONLY): Promise<{ id: string; expiresAt: number }> {
    if (previous) await this.end(previous);
    const id = randomSecret('');
    const now = this.now();
    const expiresAt = now + SESSION_TTL_MS;
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: sha256Hex(id),
        user_id: userId,
        created_at: now,
        expires_at: expiresAt,
        user_agent: from.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
        ip: from.ip ?? null,
        last_seen_at: now,
        amr: formatAmr(amr),
        sid: randomId('sid_'),
      })
      .execute();
    return { id, expiresAt };
  }

  /** The session's user; marks the session seen when it was last marked a minute ago or more. */
  async find(id: string): Promise<SessionUser | undefined> {
    if (id.length !== 43) return undefined;
    const idHash = sha256Hex(id);
    const now = this.now();
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['users.id as userId', 'users.username as username', 'users.avatar as avatar', 'sessions.created_at as authTime', 'sessions.last_seen_at as lastSeenAt', 'sessions.amr as amr', 'sessions.sid as sid'])
      .where('sessions.id_hash', '=', idHash)
      .where('sessions.expires_at', '>', now)
      .executeTakeFirst();
    if (!row) return undefined;
    const { lastSeenAt, amr, ...user } = row;
    if (lastSeenAt === null || now - Number(lastSeenAt) >= LAST_SEEN_EVERY_MS) await this.markSeen(idHash, now);
    return { ...user, amr: parseAmr(amr) };
  }

  /** Conditional, so instances serving the same session at once write it once. */
  private async markSeen(idHash: string, now: number): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: now })
      .where('id_hash', '=', idHash)
      .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<=', now - LAST_SEEN_EVERY_MS)]))
      .execute();
  }

  /** The user's live sessions, most recently seen first. */
  async list(userId: string): Promise<DeviceSession[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select(['id_hash', 'user_agent', 'ip', 'created_at', 'last_seen_at'])
      .where('user_id', '=', userId)
      .where('expires_at', '>', this.now())
      .execute();
    return rows
      .map((r) => ({
        handle: sessionHandle(r.id_hash),
        browser: browserName(r.user_agent),
        ip: r.ip,
        signedInAt: Number(r.created_at),
        lastSeenAt: Number(r.last_seen_at ?? r.created_at),
      }))
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt || a.handle.localeCompare(b.handle));
  }

  /** Signing out in this browser. */
  async end(id: string): Promise<void> {
    await this.remove((eb) => eb('id_hash', '=', sha256Hex(id)));
  }

  /** Every session of the user (a password change or reset, which says so in its own audit event); in the caller's transaction when given. */
  async endAllForUser(userId: string, executor?: Kysely<Database>): Promise<void> {
    await this.remove((eb) => eb('user_id', '=', userId), executor);
  }

  /**
   * The user ends sessions from the Account page (SPEC §11): one of their own
   * (another user's, or the current one, is not found: 404), every other one,
   * or all. Each ended session is audited with its handle and browser, and the
   * session that ended it.
   */
  async endForUser(userId: string, currentHash: string | null, which: Ending, origin: RequestOrigin): Promise<void> {
    if (typeof which === 'object' && !HANDLE.test(which.handle)) throw notFound('session');
    const notCurrent: Where = (eb) => (currentHash === null ? eb.lit(true) : eb('id_hash', '!=', currentHash));
    const ended = await this.remove((eb) => {
      const mine = eb('user_id', '=', userId);
      if (which === 'all') return mine;
      if (which === 'others') return eb.and([mine, notCurrent(eb)]);
      // The handle is 16 hex digits (checked above): nothing in it is a LIKE wildcard.
      return eb.and([mine, notCurrent(eb), eb('id_hash', 'like', `${which.handle}%`)]);
    });
    if (typeof which === 'object' && ended.length === 0) throw notFound('session');
    const by = currentHash === null ? null : sessionHandle(currentHash);
    for (const session of ended) {
      await this.audit.record({ type: 'session.ended', userId, detail: { prefix: sessionHandle(session.id_hash), browser: browserName(session.user_agent), by } }, origin);
    }
  }

  /** The one way sessions end, however chosen: returns what it ended. */
  private async remove(where: Where, executor?: Kysely<Database>): Promise<Array<{ id_hash: string; user_agent: string | null }>> {
    const run = async (trx: Kysely<Database>) => {
      const ended = await trx.deleteFrom('sessions').where(where).returning(['id_hash', 'user_agent', 'user_id', 'sid']).execute();
      await this.ended(trx, ended.map((s) => ({ userId: s.user_id, sid: s.sid })));
      return ended;
    };
    return executor ? run(executor) : this.db.transaction().execute(run);
  }

  /**
   * "Session(s) ended": what every ending of sessions calls, in its
   * transaction, including endings decided elsewhere (an account suspended,
   * deleted). Idle when nothing ended.
   */
  async ended(trx: Kysely<Database>, sessions: readonly EndedSession[]): Promise<void> {
    if (sessions.length > 0) await this.onEnded(trx, sessions);
  }

  /** Expired sessions, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }
}
