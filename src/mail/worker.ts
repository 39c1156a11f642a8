import type { FastifyBaseLogger } from 'fastify';
import { isPermanent, type MailTransport } from './transport.js';
import type { MailOutbox, OutboxRow } from './outbox.js';
import { OutboxLoop } from '../storage/outbox.js';

export interface MailWorkerOptions {
  /** How often the outbox is read when nothing in this process woke the worker. */
  pollMs?: number;
  /** The first retry's delay; each next one doubles, up to an hour. */
  retryBaseMs?: number;
  /** Attempts before a message is given up. */
  maxAttempts?: number;
  now?: () => number;
}

const BATCH = 10;
const HOUR_MS = 3_600_000;

/**
 * Sends the outbox: every instance runs one, and the outbox's claims make
 * each message one instance's to send. A failed attempt is tried again with
 * exponential backoff; a 5xx reply or the last attempt gives the message up,
 * logged (with its id and recipient, never its body) and kept. close() stops
 * it after the batch in hand, as the gateway ends its streams before the
 * database closes.
 */
export class MailWorker {
  private readonly loop: OutboxLoop<OutboxRow>;
  private readonly retryBaseMs: number;
  private readonly maxAttempts: number;
  private readonly now: () => number;

  constructor(
    private readonly outbox: MailOutbox,
    private readonly transport: MailTransport,
    options: MailWorkerOptions = {},
  ) {
    this.retryBaseMs = options.retryBaseMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? 10;
    this.now = options.now ?? Date.now;
    this.loop = new OutboxLoop({ name: 'mail', claim: (limit) => outbox.claimDue(limit), deliver: (rows, log) => this.deliverEach(rows, log), pollMs: options.pollMs ?? 5_000, batch: BATCH });
  }

  start(log: FastifyBaseLogger): void {
    this.loop.start(log);
  }

  /** Reads the outbox now (a message was just queued in this process); a read in progress reads again when done. */
  wake(): void {
    this.loop.wake();
  }

  async close(): Promise<void> {
    await this.loop.close();
    this.transport.close();
  }

  /** One message after the other: a mail server takes them at its pace, and the batch is small. */
  private async deliverEach(rows: OutboxRow[], log: FastifyBaseLogger | null): Promise<void> {
    for (const row of rows) {
      try {
        await this.deliver(row, log);
      } catch (error) {
        log?.error({ err: error, mail: { id: row.id } }, 'mail: could not record a delivery; its claim runs out and it is tried again');
      }
    }
  }

  private async deliver(row: OutboxRow, log: FastifyBaseLogger | null): Promise<void> {
    const attempts = row.attempts + 1;
    try {
      await this.transport.send({ to: row.recipient, subject: row.subject, text: row.text_body, html: row.html_body }, log);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const mail = { id: row.id, to: row.recipient, subject: row.subject, attempts };
      if (isPermanent(error) || attempts >= this.maxAttempts) {
        log?.error({ mail, err: error }, 'mail: giving up on a message');
        await this.outbox.failed(row.id, attempts, reason);
      } else {
        const retryAt = this.now() + Math.min(this.retryBaseMs * 2 ** (attempts - 1), HOUR_MS);
        log?.warn({ mail, err: error, retryAt: new Date(retryAt).toISOString() }, 'mail: sending failed; will retry');
        await this.outbox.retryLater(row.id, attempts, retryAt, reason);
      }
      return;
    }
    await this.outbox.sent(row.id);
  }
}
