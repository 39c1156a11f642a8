import type { FastifyBaseLogger } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { OutboxLoop } from '../storage/outbox.js';
import type { EventOutbox, EventRow } from './outbox.js';
import type { EventSender, SendResult } from './sender.js';
import { RETRY_SCHEDULE_MS } from './types.js';

/** Where a client's events go, as the clients domain reads it at each delivery (never cached: a changed URL counts at once). */
export interface EventTarget {
  webhookUrl: string | null;
  /** The opened whsec_… secret. */
  webhookSecret: string | null;
  backchannelLogoutUri: string | null;
  idTokenSigningAlg: string | null;
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

/**
 * Delivers the event outbox (SPEC §13): every instance runs one, the claims
 * make each event one instance's, tries run in parallel (each up to the
 * sender's timeout). A 2xx delivers; anything else is retried on the
 * schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then failed, kept on
 * the dashboard with every try.
 */
export class EventWorker {
  private readonly loop: OutboxLoop<EventRow>;
  readonly settings: EventWorkerSettings;
  private readonly now: () => number;

  constructor(private readonly deps: EventWorkerDeps, settings: Partial<EventWorkerSettings> = {}) {
    this.settings = { retryScheduleMs: RETRY_SCHEDULE_MS, pollMs: 2_000, ...settings };
    this.now = deps.now ?? Date.now;
    this.loop = new OutboxLoop({
      name: 'events',
      claim: (limit) => deps.outbox.claimDue(limit),
      deliver: (row, log) => this.deliver(row, log),
      pollMs: this.settings.pollMs,
      batch: 64,
      concurrency: 32,
    });
  }

  start(log: FastifyBaseLogger): void {
    this.loop.start(log);
  }

  wake(): void {
    this.loop.wake();
  }

  async close(): Promise<void> {
    await this.loop.close();
    await this.deps.sender.close();
  }

  private async deliver(row: EventRow, log: FastifyBaseLogger | null): Promise<void> {
    const target = await this.deps.target(row.client_id);
    const url = row.channel === 'webhook' ? target?.webhookUrl : target?.backchannelLogoutUri;
    if (!target || !url) {
      // The app was deleted or no longer takes these: nobody to tell.
      await this.deps.outbox.drop(row, target ? `the client has no ${row.channel === 'webhook' ? 'webhook URL' : 'back-channel logout URI'} now` : 'the client no longer exists');
      return;
    }
    let result: SendResult;
    if (row.channel === 'webhook') {
      if (!target.webhookSecret) return this.deps.outbox.drop(row, 'the client has no webhook secret');
      const timestamp = new Date(this.now());
      // Standard Webhooks: the signature covers id.timestamp.body with the client's secret.
      const signature = new Webhook(target.webhookSecret).sign(row.id, timestamp, row.payload);
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
    const schedule = this.settings.retryScheduleMs;
    const wait = schedule[row.attempts];
    const retryAt = delivered || wait === undefined ? null : this.now() + wait;
    if (!delivered) {
      const event = { id: row.id, type: row.type, clientId: row.client_id, attempts: row.attempts + 1 };
      if (retryAt === null) log?.warn({ event, reason: result.error }, 'events: giving up on an event');
      else log?.info({ event, reason: result.error, retryAt: new Date(retryAt).toISOString() }, 'events: delivery failed; will retry');
    }
    await this.deps.outbox.record(row, { delivered, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs, retryAt });
  }
}
