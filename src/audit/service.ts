import type { FastifyBaseLogger } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RequestOrigin } from '../http/request-context.js';
import { sortableId } from '../security/secrets.js';
import { preparedNamed } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';

/** The security events Serika records (ids and names only, never a secret). */
export const AUDIT_EVENTS = {
  'sign_in.succeeded': 'Signed in',
  // The Activity page adds what was wrong: the password, or a second step's code (detail.factor).
  'sign_in.failed': 'A sign-in failed',
  'sign_in.throttled': 'Repeated failed sign-ins: further attempts are slowed',
  'sign_in.ip_limited': 'Too many failed sign-ins from one address: it is refused until the minute is over',
  // detail.factor: "totp" (the authenticator app) or "passkey" (with its name).
  'second_factor.added': 'Second factor added',
  'second_factor.removed': 'Second factor removed',
  // A wrong code or password given to turn the app off or remove a passkey (detail.factor: what was tried).
  'second_factor.remove_refused': 'A try to remove a second factor was refused',
  'second_factor.add_refused': 'A try to add a passkey was refused',
  'recovery_code.used': 'A recovery code was used to sign in',
  'password.changed': 'Password changed; other sessions signed out',
  'password.reset_requested': 'A password reset link was requested and mailed to the verified address',
  'password.reset_refused': 'A password reset link was requested but not mailed: the hourly limit of messages was reached',
  'password.reset': 'Password reset with a mailed link; every session signed out',
  'email.changed': 'Email address changed; a verification link was mailed to it',
  'email.verified': 'Email address verified',
  'account.deleted': 'Account deleted',
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'client.secret_reset': 'OAuth client secret reset',
  'client.registered': 'An OAuth client registered itself (RFC 7591)',
  'client.created': 'OAuth client created',
  'client.deleted': 'OAuth client deleted, with its grants and tokens',
  'client.redirect_uris_changed': 'Redirect URIs of an OAuth client changed',
  'client.webhook_changed': 'Webhook URL of an OAuth client changed',
  'client.webhook_secret_rotated': 'Webhook signing secret of an OAuth client rotated',
  // SPEC §12: the operator's decisions on an app; userId is the admin who acted (null: the CLI).
  'client.verified': 'An OAuth client was verified by the operator',
  'client.unverified': "An OAuth client's verification was withdrawn",
  'client.suspended': 'An OAuth client was suspended: every token of it ended',
  'client.unsuspended': 'An OAuth client was unsuspended',
  'token.revoked': 'An app revoked one of its tokens (RFC 7009)',
  // detail: depth below the user's token, the agent's name, its scope.
  'token.exchanged': 'An app gave one of its sub-agents a narrower token (RFC 8693)',
  'agent_token.revoked': 'A sub-agent token was revoked, with the sub-agents below it',
  'budget.changed': 'Spending limit of a connected app changed',
  // detail: to — "all", or how many characters the app may now see (SPEC §15).
  'grant.characters_changed': 'Characters a connected app may see changed',
  'grant.revoked': 'Access of a connected app revoked',
  'refresh_token.replayed': 'A used refresh token was presented again: its whole family was revoked',
  'code.replayed': 'An authorization code was redeemed twice: the tokens it issued were revoked',
  'device_code.replayed': 'A device code was redeemed again after its tokens were issued',
  'device.approved': 'A sign-in from a device was allowed',
  'device.denied': 'A sign-in from a device was denied',
  // At an app's request (RP-initiated logout: the app is named), or the user's from Signed-in devices (detail:
  // the ended session's handle and browser, and the session that ended it).
  'session.ended': 'A session was signed out',
  // SPEC §12: an admin's actions (actorId: the admin; from the CLI: none) and what they refuse.
  'sign_in.refused': 'A sign-in was refused: the account is suspended',
  'account.suspended': 'Account suspended by an admin: every session and token ended',
  'account.unsuspended': 'Account unsuspended by an admin',
  'account.role_changed': 'Account role changed',
  'second_factors.reset': 'Second factors reset by an admin',
  'signing_keys.rotated': 'ID token signing keys rotated',
  'admin.reauthenticated': 'An admin confirmed it is them to use the admin pages',
} as const;

type AuditEventType = keyof typeof AUDIT_EVENTS;

export interface AuditEvent {
  type: AuditEventType;
  userId: string | null;
  clientId?: string | null;
  /** Who did it, when not the user it concerns: an admin (SPEC §12). */
  actorId?: string | null;
  detail?: Record<string, string | number | null>;
}

export interface StoredAuditEvent extends Required<AuditEvent> {
  id: string;
  ip: string | null;
  createdAt: number;
}

/** The levels at which a logger writes info lines. */
const WRITES_INFO = new Set(['info', 'debug', 'trace']);

/** Rows the pruner deletes per statement: each a short write, so requests run between them. */
const PRUNE_BATCH = 1000;

/**
 * Security events as named audit records: a row (the user sees their own on
 * the dashboard's Activity page) and a log line `audit: <type>` with the same
 * ids, the request's address and id when there is a request.
 *
 * The lines are written at info by a child logger with a level of its own, so
 * LOG_LEVEL (warn, error, even silent) never filters them out; they go where
 * every other line goes. Without a logger (the CLI) only the row is written.
 */
export class AuditService {
  private log: FastifyBaseLogger | null = null;
  /** The server's logger at info, made once: a child per event costs more than the line (bench/NOTES.md). */
  private infoLog: FastifyBaseLogger | null = null;
  private readonly insert = preparedNamed(['id', 'type', 'user_id', 'client_id', 'ip', 'detail', 'created_at', 'actor_id'], (db: Kysely<Database>, p) => db.insertInto('audit_events').values(p));

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The server's logger, for events recorded without a request (the app attaches it when built). */
  logTo(log: FastifyBaseLogger): void {
    this.log = log;
    this.infoLog = log.child({}, { level: 'info' });
  }

  /** origin: the request that caused it, when there is one (its address is stored, its logger writes the line). */
  async record(event: AuditEvent, origin?: RequestOrigin, executor: Kysely<Database> = this.db): Promise<void> {
    const request = origin;
    const now = this.now();
    const row = {
      // Time-ordered: events append to the primary key's last page (a random id dirtied a page each).
      id: sortableId('evt_', now),
      type: event.type,
      user_id: event.userId,
      client_id: event.clientId ?? null,
      ip: request?.ip ?? null,
      detail: JSON.stringify(event.detail ?? {}),
      created_at: now,
      actor_id: event.actorId ?? null,
    };
    await this.insert(executor, row);
    const line = { audit: { type: event.type, id: row.id, userId: row.user_id, clientId: row.client_id, actorId: row.actor_id, ip: row.ip, ...event.detail } };
    const message = `audit: ${event.type}`;
    if (!request) {
      this.infoLog?.info(line, message);
    } else if (WRITES_INFO.has(request.log.level)) {
      // The request's logger carries its id (reqId) and whom it acts for.
      request.log.info(line, message);
    } else if (request.id !== undefined && this.infoLog) {
      // LOG_LEVEL filters the request's lines, never this one: the server's logger at info, with the request's id.
      this.infoLog.info({ reqId: request.id, ...line }, message);
    } else {
      request.log.child({}, { level: 'info' }).info(line, message);
    }
  }

  /**
   * Deletes the events created before `cutoff` (AUDIT_RETENTION_DAYS), `batchSize` rows per statement by the
   * created_at index, running `between` after each full batch (by default: the event loop's next turn), so a
   * large table is pruned in short writes that never hold the database or the event loop for long. Returns how
   * many were deleted.
   */
  async pruneBefore(cutoff: number, batchSize = PRUNE_BATCH, between: () => Promise<unknown> = nextTurn): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.db
        .deleteFrom('audit_events')
        .where('id', 'in', (eb) => eb.selectFrom('audit_events').select('id').where('created_at', '<', cutoff).limit(batchSize))
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      total += deleted;
      if (deleted < batchSize) return total;
      await between();
    }
  }

  /** The user's own events, newest first. */
  async listForUser(userId: string, limit = 100): Promise<StoredAuditEvent[]> {
    const rows = await this.db.selectFrom('audit_events').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toStored);
  }
}

export function toStored(r: Selectable<Database['audit_events']>): StoredAuditEvent {
  return {
    id: r.id,
    type: r.type as AuditEventType,
    userId: r.user_id,
    clientId: r.client_id,
    actorId: r.actor_id,
    ip: r.ip,
    detail: JSON.parse(r.detail) as Record<string, string | number | null>,
    createdAt: Number(r.created_at),
  };
}
