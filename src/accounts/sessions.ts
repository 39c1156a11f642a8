import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { AuditService } from '../audit/service.js';
import { AppError, notFound } from '../errors.js';
import type { RequestOrigin } from '../http/request-context.js';
import { randomId, randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import { USER_AGENT_MAX, browserName } from './user-agent.js';
import { formatAmr, parseAmr, PASSWORD_ONLY, type AuthMethod } from './auth-methods.js';
import { recentlyAuthenticated } from './recent-auth.js';

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
  /** When the user last re-authenticated for the admin pages in this session (SPEC §12), else null. */
  reauthAt: number | null;
  /** When the user last gave their password or a current code again for an account change (recent-auth.ts), else null. */
  confirmedAt: number | null;
}

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

/** Sessions that just ended, in the transaction that ended them: what a listener (back-channel logout) is told. */
export interface EndedSession {
  id_hash: string;
  user_id: string;
  user_agent: string | null;
  /** The session's id in ID tokens (SPEC §13): whom the back-channel logout names; null for pre-0024 sessions. */
  sid: string | null;
}

/**
 * Told of every session that ends, however it ends, inside the ending's transaction (sessions.onEnded). Every
 * way a session ends (sign-out, end_session, sign out everywhere or one device, a password change or reset, a
 * suspension, an account deleted) goes through SessionsService's one private remove, so each one tells these.
 */
export type SessionsEndedListener = (executor: Kysely<Database>, ended: readonly EndedSession[]) => Promise<void>;

/** SPEC §12: a suspended user cannot sign in, by any path: every one starts its session through start(). */
function suspendedError(): AppError {
  return new AppError('account_suspended', 'This account is suspended. Contact the operator of this service.');
}

/**
 * Browser sessions live in the database, so any instance serves any step
 * (SPEC §2). The cookie holds a 256-bit random id; only its hash is stored.
 */
export class SessionsService {
  private readonly listeners: SessionsEndedListener[] = [];

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly audit: AuditService,
  ) {}

  /** Registers a listener told of every ended session (see remove: the one way sessions end). */
  onEnded(listener: SessionsEndedListener): void {
    this.listeners.push(listener);
  }

  /**
   * Refuses a suspended user (SPEC §12). Every sign-in path passes here: start() checks before making a session,
   * and the password path checks before a second step, so a suspended user is not asked for a code first.
   */
  async refuseSuspended(userId: string): Promise<void> {
    const row = await this.db.selectFrom('users').select('suspended_at').where('id', '=', userId).executeTakeFirst();
    if (row && row.suspended_at !== null) throw suspendedError();
  }

  /**
   * A new session id every sign-in (UI-06): the previous one, if any, is destroyed. A suspended user gets none.
   * `carried`: a session that replaces one of this browser's without a new sign-in (a password change) keeps its
   * sign-in time with its amr — an ID token's auth_time and acr must name when the factors were last given — and
   * counts as confirmed now (the password was).
   */
  async start(
    userId: string,
    previous?: string,
    from: SessionOrigin = {},
    amr: readonly AuthMethod[] = PASSWORD_ONLY,
    carried?: { authTime: number },
  ): Promise<{ id: string; expiresAt: number }> {
    await this.refuseSuspended(userId);
    if (previous) await this.end(previous);
    const id = randomSecret('');
    const now = this.now();
    const expiresAt = now + SESSION_TTL_MS;
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: sha256Hex(id),
        user_id: userId,
        created_at: carried?.authTime ?? now,
        confirmed_at: carried ? now : null,
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
      .select([
        'users.id as userId',
        'users.username as username',
        'users.avatar as avatar',
        'sessions.created_at as authTime',
        'sessions.last_seen_at as lastSeenAt',
        'sessions.amr as amr',
        'sessions.reauth_at as reauthAt',
        'sessions.confirmed_at as confirmedAt',
        'sessions.sid as sid',
      ])
      .where('sessions.id_hash', '=', idHash)
      .where('sessions.expires_at', '>', now)
      // A session started as its user was being suspended is no session (suspension ends them all, too).
      .where('users.suspended_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    const { lastSeenAt, amr, reauthAt, confirmedAt, ...user } = row;
    if (lastSeenAt === null || now - Number(lastSeenAt) >= LAST_SEEN_EVERY_MS) await this.markSeen(idHash, now);
    const ms = (value: number | null) => (value === null ? null : Number(value));
    return { ...user, authTime: Number(user.authTime), amr: parseAmr(amr), reauthAt: ms(reauthAt), confirmedAt: ms(confirmedAt) };
  }

  /** The session is recently authenticated (recent-auth.ts), on this service's clock. */
  recentlyAuthenticated(user: SessionUser): boolean {
    return recentlyAuthenticated(user, this.now());
  }

  /** The session's user gave their password or a current code again for an account change (recent-auth.ts): the time kept. Never the admin check. */
  async markConfirmed(id: string): Promise<number> {
    return this.stamp(id, 'confirmed_at');
  }

  /** The session's user proved it again (the admin pages' check, SPEC §12): the time is kept on the session. */
  async markReauthenticated(id: string): Promise<void> {
    await this.stamp(id, 'reauth_at');
  }

  /** Keeps on the session when its user last proved it again, for the account pages or for the admin pages. */
  private async stamp(id: string, column: 'confirmed_at' | 'reauth_at'): Promise<number> {
    const at = this.now();
    await this.db.updateTable('sessions').set({ [column]: at }).where('id_hash', '=', sha256Hex(id)).execute();
    return at;
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

  /** The session ends, silently: the previous session of a browser signing in again (UI-06). */
  async end(id: string): Promise<void> {
    await this.remove((eb) => eb('id_hash', '=', sha256Hex(id)));
  }

  /**
   * The user signs out in this browser (/logout, or an app's RP-initiated logout naming `clientId`): the session
   * ends and SPEC §11's "session ended" is recorded with its handle and browser, as Signed-in devices records them
   * (`by`: the session itself). Never the id.
   */
  async signOut(id: string, origin: RequestOrigin, clientId: string | null = null): Promise<void> {
    const ended = await this.remove((eb) => eb('id_hash', '=', sha256Hex(id)));
    await this.recordEnded(ended, (session) => sessionHandle(session.id_hash), origin, clientId);
  }

  /**
   * Every session of the user ends (a password change or reset, a suspension: each says so in its own audit
   * event), in the caller's transaction when it gives one. Returns how many ended.
   */
  async endAllForUser(userId: string, executor: Kysely<Database> = this.db): Promise<number> {
    return (await this.remove((eb) => eb('user_id', '=', userId), executor)).length;
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
    await this.recordEnded(ended, () => by, origin);
  }

  /** SPEC §11's "session ended", one event per session: its handle and browser, and the session that ended it. Never the id. */
  private async recordEnded(ended: EndedSession[], by: (session: EndedSession) => string | null, origin: RequestOrigin, clientId: string | null = null): Promise<void> {
    for (const session of ended) {
      const detail = { prefix: sessionHandle(session.id_hash), browser: browserName(session.user_agent), by: by(session) };
      await this.audit.record({ type: 'session.ended', userId: session.user_id, clientId, detail }, origin);
    }
  }

  /**
   * The one way sessions end, however chosen: returns what it ended, after telling the listeners (onEnded) in
   * the same transaction, so a back-channel logout is queued exactly when its session is gone (SPEC §13).
   */
  private async remove(where: Where, executor?: Kysely<Database>): Promise<EndedSession[]> {
    const run = async (trx: Kysely<Database>): Promise<EndedSession[]> => {
      const ended = await trx.deleteFrom('sessions').where(where).returning(['id_hash', 'user_id', 'user_agent', 'sid']).execute();
      if (ended.length > 0) for (const listener of this.listeners) await listener(trx, ended);
      return ended;
    };
    return executor ? run(executor) : this.db.transaction().execute(run);
  }

  /** Expired sessions, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }
}
