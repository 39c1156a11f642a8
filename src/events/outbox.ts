import { sql, type Kysely } from 'kysely';
import { sortableId } from '../security/secrets.js';
import { claimDue } from '../storage/outbox.js';
import type { Database, EventOutboxTable } from '../storage/schema.js';
import { parseWebhookEvents, TEST_EVENT_TYPE, type WebhookEventType } from './types.js';

export type EventRow = EventOutboxTable;

/**
 * How long a claimed event is the claimer's. A try lasts at most 10 s and a batch (worker.ts: 128 events, 32 at
 * a time) four rounds of tries, 40 s: past twice that its instance died mid-batch.
 */
const CLAIM_MS = 90_000;
/** Delivered and failed events are kept this long (the dashboard's list), then pruned. */
const KEEP_MS = 30 * 86_400_000;

/**
 * An event of a suspended app (SPEC §12) waits, untried: looked at again after `ms` (in case a release was missed:
 * an unsuspension while the event was claimed), and at once when the app is unsuspended (release). `error` marks
 * the wait on the row (and the dashboard), which is how release finds what to send.
 */
export const HOLD = { ms: 3_600_000, error: 'the app is suspended by the operator: held until it is unsuspended' } as const;

/** What a webhook's `data` holds besides user_id and client_id (SPEC §13). */
type EventData = Record<string, unknown>;

/**
 * What became of one claimed event: tried (delivered, pending again at
 * `retryAt`, or failed for good), or given up without a try (the client or
 * its URL is gone: failed, `tried` null, `error` says why).
 */
export interface EventOutcome {
  row: EventRow;
  state: 'delivered' | 'pending' | 'failed';
  tried: { statusCode: number | null; durationMs: number } | null;
  error: string | null;
  retryAt: number | null;
}

export interface DeliveryView {
  id: string;
  type: string;
  channel: 'webhook' | 'logout';
  state: EventRow['state'];
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
  tries: Array<{ attempt: number; at: number; statusCode: number | null; error: string | null }>;
}

/**
 * The event outbox (SPEC §13): webhooks and back-channel logouts, each a row
 * written in the transaction of the change it tells of, so an event is
 * delivered if and only if its change committed; claimed by one worker of
 * one instance at a time (storage/outbox.ts).
 */
export class EventOutbox {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    /** Called after a commit that queued events: this process's worker reads at once. */
    private readonly queued: () => void = () => {},
  ) {}

  private soonTimer: NodeJS.Timeout | null = null;

  /**
   * The worker reads shortly after an event is queued: the queuing
   * transaction has then (almost always) committed; its poll catches the rest.
   */
  private soon(): void {
    if (this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.queued();
    }, 25).unref();
  }

  /**
   * SPEC §13 budget.threshold: spending reached `percent` of a limit; queued
   * once per period (budget_notices), whichever call crossed it.
   */
  async budgetThreshold(trx: Kysely<Database>, userId: string, clientId: string, periodStart: number, percent: 80 | 100, data: EventData): Promise<void> {
    const noticed = await trx
      .insertInto('budget_notices')
      .values({ user_id: userId, client_id: clientId, period_start: periodStart, percent })
      .onConflict((oc) => oc.columns(['user_id', 'client_id', 'period_start', 'percent']).doNothing())
      .executeTakeFirst();
    if (Number(noticed.numInsertedOrUpdatedRows ?? 0) === 1) await this.webhook(trx, 'budget.threshold', userId, clientId, { percent, ...data });
  }

  /**
   * A webhook event for the client, in the caller's transaction, when the
   * client has a webhook that takes this type; returns whether one was queued.
   */
  async webhook(trx: Kysely<Database>, type: WebhookEventType, userId: string, clientId: string, data: EventData = {}): Promise<boolean> {
    const client = await trx.selectFrom('oauth_clients').select(['webhook_url', 'webhook_events']).where('id', '=', clientId).executeTakeFirst();
    if (!client?.webhook_url || !parseWebhookEvents(client.webhook_events).includes(type)) return false;
    await this.insert(trx, 'webhook', type, userId, clientId, data);
    this.soon();
    return true;
  }

  /** The same event for each of several clients (user.deleted: every app the user had allowed). */
  async webhookEach(trx: Kysely<Database>, type: WebhookEventType, userId: string, clientIds: readonly string[], data: EventData = {}): Promise<void> {
    for (const clientId of new Set(clientIds)) await this.webhook(trx, type, userId, clientId, data);
  }

  /** OpenID Back-Channel Logout 1.0: a logout token to the client, if it has a back-channel logout URI. */
  async logout(trx: Kysely<Database>, clientId: string, userId: string, sid: string): Promise<boolean> {
    const client = await trx.selectFrom('oauth_clients').select('backchannel_logout_uri').where('id', '=', clientId).executeTakeFirst();
    if (!client?.backchannel_logout_uri) return false;
    const now = this.now();
    await trx.insertInto('event_outbox').values(this.row(sortableId('evt_', now), now, 'logout', 'logout', userId, clientId, JSON.stringify({ sub: userId, sid }))).execute();
    this.soon();
    return true;
  }

  /** The dashboard's "Send test event": to the client's webhook, whatever types it takes. */
  async test(userId: string, clientId: string): Promise<void> {
    await this.insert(this.db, 'webhook', TEST_EVENT_TYPE, userId, clientId, { test: true });
    this.queued();
  }

  private async insert(executor: Kysely<Database>, channel: 'webhook', type: string, userId: string, clientId: string, data: EventData): Promise<void> {
    const now = this.now();
    const id = sortableId('evt_', now);
    // Standard Webhooks: the body; its id travels as webhook-id (and is the receiver's key against duplicates).
    const body = JSON.stringify({ type, timestamp: new Date(now).toISOString(), data: { user_id: userId, client_id: clientId, ...data } });
    await executor.insertInto('event_outbox').values(this.row(id, now, channel, type, userId, clientId, body)).execute();
  }

  private row(id: string, now: number, channel: EventRow['channel'], type: string, userId: string, clientId: string, payload: string): EventRow {
    return {
      id,
      client_id: clientId,
      user_id: userId,
      channel,
      type,
      payload,
      state: 'pending',
      attempts: 0,
      next_attempt_at: now,
      claimed_until: null,
      last_status: null,
      last_error: null,
      created_at: now,
      delivered_at: null,
    };
  }

  async claimDue(limit: number): Promise<EventRow[]> {
    return claimDue(this.db, 'event_outbox', limit, this.now(), CLAIM_MS);
  }

  /**
   * A claimed batch's outcomes, in two statements whatever its size: every
   * try into event_attempts (numbered after the event's earlier tries, which
   * a "Resend" keeps), then the events, one UPDATE per kind of outcome
   * (usually one: all delivered). Only the claim's holder records: the row
   * must still be 'sending' under the claim it was claimed with
   * (storage/outbox.ts); a stale claimer's try is listed, its outcome not.
   */
  async recordAll(outcomes: readonly EventOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const now = this.now();
    const tries = outcomes.filter((o) => o.tried !== null);
    if (tries.length > 0) {
      await this.db
        .insertInto('event_attempts')
        .values(
          tries.map(({ row, tried, error }) => ({
            event_id: row.id,
            attempt: this.db.selectFrom('event_attempts').select(sql<number>`coalesce(max(attempt), 0) + 1`.as('next')).where('event_id', '=', row.id),
            at: now,
            status_code: tried!.statusCode,
            error: error?.slice(0, 500) ?? null,
            duration_ms: Math.round(tried!.durationMs),
          })),
        )
        // Two holders of one event's claim (the first's ran out while it still sent) would number a try alike: the first is kept.
        .onConflict((oc) => oc.columns(['event_id', 'attempt']).doNothing())
        .execute();
    }
    const groups = new Map<string, { outcome: EventOutcome; ids: string[] }>();
    for (const outcome of outcomes) {
      const { row, state, tried, error, retryAt } = outcome;
      const key = JSON.stringify([row.claimed_until, state, tried === null, tried?.statusCode ?? null, error, retryAt]);
      const group = groups.get(key);
      if (group) group.ids.push(row.id);
      else groups.set(key, { outcome, ids: [row.id] });
    }
    for (const { outcome, ids } of groups.values()) {
      const { row, state, tried, error, retryAt } = outcome;
      await this.db
        .updateTable('event_outbox')
        .set((eb) => ({
          state,
          claimed_until: null,
          last_error: error?.slice(0, 500) ?? null,
          ...(tried === null ? {} : { attempts: eb('attempts', '+', 1), last_status: tried.statusCode, delivered_at: state === 'delivered' ? now : null }),
          // A try's retry, or a suspended app's hold (untried).
          ...(retryAt === null ? {} : { next_attempt_at: retryAt }),
        }))
        .where('id', 'in', ids)
        .where('state', '=', 'sending')
        .where('claimed_until', '=', row.claimed_until)
        .execute();
    }
  }

  /** The app was unsuspended: what its suspension held is due now, in the unsuspension's transaction. */
  async release(trx: Kysely<Database>, clientId: string): Promise<void> {
    const result = await trx
      .updateTable('event_outbox')
      .set({ next_attempt_at: this.now(), last_error: null })
      .where('client_id', '=', clientId)
      .where('state', '=', 'pending')
      .where('last_error', '=', HOLD.error)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) > 0) this.soon();
  }

  /** "Resend": the event is due again now, its schedule started over; false when it is not the client's or is in flight. */
  async resend(clientId: string, eventId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('event_outbox')
      .set({ state: 'pending', attempts: 0, next_attempt_at: this.now(), claimed_until: null, delivered_at: null })
      .where('id', '=', eventId)
      .where('client_id', '=', clientId)
      .where('state', 'in', ['delivered', 'failed', 'pending'])
      .executeTakeFirst();
    const resent = Number(result.numUpdatedRows) === 1;
    if (resent) this.queued();
    return resent;
  }

  /** The client's latest events, newest first, each with its tries. */
  async deliveries(clientId: string, limit = 50): Promise<DeliveryView[]> {
    const rows = await this.db.selectFrom('event_outbox').selectAll().where('client_id', '=', clientId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    if (rows.length === 0) return [];
    const tries = await this.db.selectFrom('event_attempts').selectAll().where('event_id', 'in', rows.map((r) => r.id)).orderBy('attempt').execute();
    return rows.map((r) => ({
      id: r.id,
      type: r.type,
      channel: r.channel,
      state: r.state,
      attempts: r.attempts,
      lastStatus: r.last_status,
      lastError: r.last_error,
      createdAt: Number(r.created_at),
      nextAttemptAt: Number(r.next_attempt_at),
      deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
      tries: tries.filter((t) => t.event_id === r.id).map((t) => ({ attempt: t.attempt, at: Number(t.at), statusCode: t.status_code, error: t.error })),
    }));
  }

  /** Delivered and failed events past KEEP_MS (their tries by cascade), for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    // Notices of periods long over: a period is at most a month (total's start is 0 and is kept).
    await trx.deleteFrom('budget_notices').where('period_start', '>', 0).where('period_start', '<', now - 62 * 86_400_000).execute();
    const result = await trx.deleteFrom('event_outbox').where('state', 'in', ['delivered', 'failed']).where('created_at', '<', now - KEEP_MS).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
