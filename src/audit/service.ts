import type { Kysely } from 'kysely';
import type { RequestOrigin } from '../http/request-context.js';
import { randomId } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';

/** The security events Serika records (ids and names only, never a secret). */
export const AUDIT_EVENTS = {
  'sign_in.throttled': 'Repeated failed sign-ins: further attempts are slowed',
  'password.changed': 'Password changed; other sessions signed out',
  'account.deleted': 'Account deleted',
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'client.secret_reset': 'OAuth client secret reset',
  'client.registered': 'An OAuth client registered itself (RFC 7591)',
  'grant.revoked': 'Access of a connected app revoked',
  'refresh_token.replayed': 'A used refresh token was presented again: its whole family was revoked',
  'code.replayed': 'An authorization code was redeemed twice: the tokens it issued were revoked',
  'device_code.replayed': 'A device code was redeemed again after its tokens were issued',
  'device.approved': 'A sign-in from a device was allowed',
  'device.denied': 'A sign-in from a device was denied',
  'session.ended': "Signed out at an app's request (RP-initiated logout)",
} as const;

export type AuditEventType = keyof typeof AUDIT_EVENTS;

export interface AuditEvent {
  type: AuditEventType;
  userId: string | null;
  clientId?: string | null;
  detail?: Record<string, string | number | null>;
}

export interface StoredAuditEvent extends Required<AuditEvent> {
  id: string;
  ip: string | null;
  createdAt: number;
}

/**
 * Security events as named audit records: a row (the user sees their own on
 * the dashboard's Activity page) and a log line `audit: <type>` with the same
 * ids, the request's address when there is a request.
 */
export class AuditService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** origin: the request that caused it, when there is one (its address is stored, its logger writes the line). */
  async record(event: AuditEvent, origin?: RequestOrigin, executor: Kysely<Database> = this.db): Promise<void> {
    const request = origin;
    const row = {
      id: randomId('evt_'),
      type: event.type,
      user_id: event.userId,
      client_id: event.clientId ?? null,
      ip: request?.ip ?? null,
      detail: JSON.stringify(event.detail ?? {}),
      created_at: this.now(),
    };
    await executor.insertInto('audit_events').values(row).execute();
    request?.log.info({ audit: { type: event.type, id: row.id, userId: row.user_id, clientId: row.client_id, ip: row.ip, ...event.detail } }, `audit: ${event.type}`);
  }

  /** The user's own events, newest first. */
  async listForUser(userId: string, limit = 100): Promise<StoredAuditEvent[]> {
    const rows = await this.db.selectFrom('audit_events').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: r.id,
      type: r.type as AuditEventType,
      userId: r.user_id,
      clientId: r.client_id,
      ip: r.ip,
      detail: JSON.parse(r.detail) as Record<string, string | number | null>,
      createdAt: Number(r.created_at),
    }));
  }
}
