import type { Kysely } from 'kysely';
import { sortableId } from '../security/secrets.js';
import { claimDue } from '../storage/outbox.js';
import type { Database, MailOutboxTable } from '../storage/schema.js';
import type { MailMessage } from './message.js';

export type OutboxRow = MailOutboxTable;

/** How long a claimed message is the claimer's: past it (an instance died mid-send) another may send it. */
const CLAIM_MS = 120_000;
/** Sent and given-up rows are kept this long (what was sent, and when, for an operator's question), then pruned. */
const KEEP_MS = 30 * 86_400_000;

/**
 * The mail outbox (SPEC §11): messages written in the transaction of the
 * change they tell of, claimed by one worker of one instance at a time.
 */
export class MailOutbox {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Queues a message inside the caller's transaction: it is sent if and only if the change commits. */
  async enqueue(executor: Kysely<Database>, message: MailMessage): Promise<void> {
    const now = this.now();
    await executor
      .insertInto('mail_outbox')
      .values({
        id: sortableId('mail_', now),
        recipient: message.to,
        subject: message.subject,
        text_body: message.text,
        html_body: message.html,
        state: 'pending',
        attempts: 0,
        next_attempt_at: now,
        claimed_until: null,
        last_error: null,
        created_at: now,
        sent_at: null,
      })
      .execute();
  }

  /** Up to `limit` due messages, each claimed for this caller alone (storage/outbox.ts). */
  async claimDue(limit: number): Promise<OutboxRow[]> {
    return claimDue(this.db, 'mail_outbox', limit, this.now(), CLAIM_MS);
  }

  /** Sent: the bodies (they hold live links) are cleared, the rest kept. */
  async sent(id: string): Promise<void> {
    await this.db.updateTable('mail_outbox').set({ state: 'sent', sent_at: this.now(), text_body: '', html_body: '', claimed_until: null }).where('id', '=', id).execute();
  }

  /** Failed for now: tried again at `retryAt`. */
  async retryLater(id: string, attempts: number, retryAt: number, error: string): Promise<void> {
    await this.db.updateTable('mail_outbox').set({ state: 'pending', attempts, next_attempt_at: retryAt, claimed_until: null, last_error: error }).where('id', '=', id).execute();
  }

  /** Given up: kept with its error (the bodies cleared), for the operator. */
  async failed(id: string, attempts: number, error: string): Promise<void> {
    await this.db.updateTable('mail_outbox').set({ state: 'failed', attempts, claimed_until: null, last_error: error, text_body: '', html_body: '' }).where('id', '=', id).execute();
  }

  /** Sent and given-up messages past KEEP_MS, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    const result = await trx.deleteFrom('mail_outbox').where('state', 'in', ['sent', 'failed']).where('created_at', '<', now - KEEP_MS).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
