import type { FastifyBaseLogger } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { OutboxLoop } from '../storage/outbox.js';
import { HOLD, type EventOutbox, type EventOutcome, type EventRow } from './outbox.js';
import { LoopShare } from './pacer.js';
import type { EventSender, SendResult } from './sender.js';
import { nextAttemptAt, RETRY_SCHEDULE_MS } from './types.js';

/** Where a client's events go, as the clients domain reads it at each delivery (never cached: a changed URL counts at once). */
export interface EventTarget {
  webhookUrl: string | null;
  /** The opened whsec_… secret. */
  webhookSecret: string | null;
  backchannelLogoutUri: string | null;
  idTokenSigningAlg: string | null;
  /** Suspended by the operator (SPEC §12): nothing is sent to it; its events wait (HOLD). */
  suspended: boolean;
}

export interface EventWorkerDeps {
  outbox: EventOutbox;
  sender: EventSender;
  target: (clientId: string) => Promise<EventTarget | null>;
  logoutToken: (request: { clientId: string; sub: string; sid: string; jti: string; alg: string | null }) => Promise<string>;
  now?: () => number;
}

/** What tests may shorten; the product's are SPEC §13's. */
export interface EventWorkerSettings {
  /** The waits after each failed try; past the last, the event fails. */
  retryScheduleMs: readonly number[];
  pollMs: number;
}

/** Events claimed per read, and tries in flight at once (each up to the sender's timeout). */
const BATCH = 128;
const CONCURRENCY = 32;
/** Tries recorded together: one INSERT and one UPDATE per kind of outcome, about every round of the lanes. */
const RECORD_EVERY = 16;

/** A client's target as one batch uses it: read once per batch, its secret opened and its signer built once. */
interface BatchTarget {
  target: EventTarget;
  signer: Webhook | null;
}

/**
 * Delivers the event outbox (SPEC §13): every instance runs one, the claims
 * make each event one instance's. A batch of due events is claimed in one
 * statement, tried in parallel, and its outcomes recorded in two
 * (events/outbox.ts); between batches the worker pauses so that it takes a
 * share of the event loop, not all of it (pacer.ts). A 2xx delivers;
 * anything else is retried on the schedule (5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 10 h), then failed, kept on the dashboard with every try.
 */
export class EventWorker {
  private readonly loop: OutboxLoop<EventRow>;
  readonly settings: EventWorkerSettings;
  private readonly now: () => number;
  private readonly pacer = new LoopShare();

  constructor(private readonly deps: EventWorkerDeps, settings: Partial<EventWorkerSettings> = {}) {
    this.settings = { retryScheduleMs: RETRY_SCHEDULE_MS, pollMs: 2_000, ...settings };
    this.now = deps.now ?? Date.now;
    this.loop = new OutboxLoop({
      name: 'events',
      claim: (limit) => {
        this.pacer.begin();
        return deps.outbox.claimDue(limit);
      },
      deliver: (rows, log) => this.deliverBatch(rows, log),
      pollMs: this.settings.pollMs,
      batch: BATCH,
      pause: (items, signal) => this.pacer.pause(items, signal),
    });
  }

  start(log: FastifyBaseLogger): void {
    this.loop.start(log);
  }

  wake(): void {
    this.loop.wake();
  }

  /** The server took a request: while they come fast, the worker takes only its share (pacer.ts). */
  requestSeen(): void {
    this.pacer.noteRequest();
  }

  async close(): Promise<void> {
    await this.loop.close();
    await this.deps.sender.close();
  }

  private async deliverBatch(rows: EventRow[], log: FastifyBaseLogger | null): Promise<void> {
    // Read at each batch, never kept longer: a changed URL or rotated secret counts from the next batch.
    const targets = new Map<string, Promise<BatchTarget | null>>();
    const targetOf = (clientId: string) => {
      let target = targets.get(clientId);
      if (!target) {
        target = this.deps.target(clientId).then((t) => (t ? { target: t, signer: t.webhookSecret ? new Webhook(t.webhookSecret) : null } : null));
        targets.set(clientId, target);
      }
      return target;
    };
    // Outcomes are recorded a few at a time as tries end, not all at the batch's end: an instance that dies
    // mid-batch sends again (after the claim runs out) only what it had not yet recorded.
    let outcomes: EventOutcome[] = [];
    let recording: Promise<unknown> = Promise.resolve();
    const failure: { error?: Error } = {};
    const record = () => {
      const chunk = outcomes;
      outcomes = [];
      if (chunk.length > 0) recording = recording.then(() => this.deps.outbox.recordAll(chunk).catch((error: unknown) => void (failure.error ??= error instanceof Error ? error : new Error(String(error)))));
      return recording;
    };
    let next = 0;
    const lane = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        try {
          // Awaited first: `outcomes` may be a new array by the time the try ends.
          const outcome = await this.attempt(row, await targetOf(row.client_id), log);
          outcomes.push(outcome);
          if (outcomes.length >= RECORD_EVERY) void record();
        } catch (error) {
          // Not recorded: the claim runs out and the event is tried again.
          log?.error({ err: error, event: { id: row.id } }, 'events: could not try an event; its claim runs out and it is tried again');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, rows.length) }, lane));
    await record();
    if (failure.error) throw failure.error;
  }

  private async attempt(row: EventRow, batchTarget: BatchTarget | null, log: FastifyBaseLogger | null): Promise<EventOutcome> {
    const target = batchTarget?.target;
    const url = row.channel === 'webhook' ? target?.webhookUrl : target?.backchannelLogoutUri;
    const drop = (error: string): EventOutcome => ({ row, state: 'failed', tried: null, error, retryAt: null });
    // The app was deleted or no longer takes these: nobody to tell.
    if (!target || !url) return drop(target ? `the client has no ${row.channel === 'webhook' ? 'webhook URL' : 'back-channel logout URI'} now` : 'the client no longer exists');
    // SPEC §12: a suspended app is one the operator stopped trusting: it is sent nothing, not even news of its users,
    // while suspended. Its events are not dropped (a user.deleted must still reach it, to delete what it keeps):
    // they wait, untried and with their schedule intact, until the unsuspension releases them (EventOutbox.release).
    if (target.suspended) return { row, state: 'pending', tried: null, error: HOLD.error, retryAt: this.now() + HOLD.ms };
    let result: SendResult;
    if (row.channel === 'webhook') {
      if (!batchTarget.signer) return drop('the client has no webhook secret');
      const timestamp = new Date(this.now());
      // Standard Webhooks: the signature covers id.timestamp.body with the client's secret.
      const signature = batchTarget.signer.sign(row.id, timestamp, row.payload);
      result = await this.deps.sender.post(
        url,
        { 'content-type': 'application/json', 'webhook-id': row.id, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature },
        row.payload,
      );
    } else {
      const { sub, sid } = JSON.parse(row.payload) as { sub: string; sid: string };
      const token = await this.deps.logoutToken({ clientId: row.client_id, sub, sid, jti: row.id, alg: target.idTokenSigningAlg });
      // OpenID Back-Channel Logout 1.0 §2.5: a form POST of logout_token.
      result = await this.deps.sender.post(url, { 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ logout_token: token }).toString());
    }
    const delivered = result.error === null;
    const retryAt = delivered ? null : nextAttemptAt(row.attempts, this.now(), this.settings.retryScheduleMs);
    if (!delivered) {
      const event = { id: row.id, type: row.type, clientId: row.client_id, attempts: row.attempts + 1 };
      if (retryAt === null) log?.warn({ event, reason: result.error }, 'events: giving up on an event');
      else log?.info({ event, reason: result.error, retryAt: new Date(retryAt).toISOString() }, 'events: delivery failed; will retry');
    }
    return {
      row,
      state: delivered ? 'delivered' : retryAt === null ? 'failed' : 'pending',
      tried: { statusCode: result.statusCode, durationMs: result.durationMs },
      error: result.error,
      retryAt,
    };
  }
}
