import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * The machinery every outbox shares (mail, SPEC §11; events, SPEC §13): rows
 * written in the transaction of the change they tell of, claimed by one
 * worker of one instance at a time, and a loop on every instance that drains
 * them. Each outbox keeps its own table and what "sent" means.
 */
export type OutboxTableName = 'mail_outbox' | 'event_outbox';

interface ClaimColumns {
  id: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  claimed_until: number | null;
}

/**
 * Up to `limit` due rows, each claimed for this caller: a conditional UPDATE
 * that only one instance's statement can win (the row must still be pending,
 * or claimed by someone whose claim ran out: an instance that died mid-send).
 */
export async function claimDue<T extends OutboxTableName>(db: Kysely<Database>, table: T, limit: number, now: number, claimMs: number): Promise<Array<Database[T]>> {
  // Both tables share the claim columns; Kysely is told only of those, under one name.
  const outbox = (db as unknown as Kysely<{ outbox: ClaimColumns }>).withTables<{ outbox: ClaimColumns }>();
  const name = table as unknown as 'outbox';
  const due = await outbox
    .selectFrom(name)
    .selectAll()
    .where((eb) => eb.or([eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', now)]), eb.and([eb('state', '=', 'sending'), eb('claimed_until', '<', now)])]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
  const claimed: ClaimColumns[] = [];
  for (const row of due) {
    const result = await outbox
      .updateTable(name)
      .set({ state: 'sending', claimed_until: now + claimMs })
      .where('id', '=', row.id)
      .where('state', '=', row.state)
      .where('attempts', '=', row.attempts)
      .where((eb) => (row.claimed_until === null ? eb('claimed_until', 'is', null) : eb('claimed_until', '=', row.claimed_until)))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) claimed.push(row);
  }
  return claimed as unknown as Array<Database[T]>;
}

export interface OutboxLoopOptions<Row> {
  /** What the loop is called in its log lines ("mail", "events"). */
  name: string;
  /** Claims up to `limit` due rows. */
  claim: (limit: number) => Promise<Row[]>;
  /** Delivers one claimed row, recording the outcome itself; a throw is logged and the claim runs out. */
  deliver: (row: Row, log: FastifyBaseLogger | null) => Promise<void>;
  /** How often the outbox is read when nothing in this process woke the loop. */
  pollMs: number;
  /** Rows claimed per read, and (concurrency) delivered at once. */
  batch: number;
  concurrency?: number;
}

/**
 * Drains an outbox: every instance runs one, and the claims make each row
 * one instance's. wake() reads at once (a row was just queued in this
 * process); close() stops after the batch in hand.
 */
export class OutboxLoop<Row> {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private log: FastifyBaseLogger | null = null;

  constructor(private readonly options: OutboxLoopOptions<Row>) {}

  start(log: FastifyBaseLogger): void {
    if (this.closed || this.timer) return;
    this.log = log;
    this.timer = setInterval(() => this.wake(), this.options.pollMs).unref();
    this.wake();
  }

  wake(): void {
    if (this.closed || !this.timer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async drain(): Promise<void> {
    const { batch, claim, name } = this.options;
    const concurrency = this.options.concurrency ?? 1;
    try {
      for (;;) {
        const claimed = await claim(batch);
        for (let i = 0; i < claimed.length; i += concurrency) {
          await Promise.all(claimed.slice(i, i + concurrency).map((row) => this.deliverOne(row)));
        }
        if (claimed.length < batch || this.closed) return;
      }
    } catch (error) {
      // The database away: the next poll tries again; nothing was lost (rows stay pending or claimed until their claim runs out).
      this.log?.warn({ err: error }, `${name}: could not read the outbox; trying again`);
    }
  }

  private async deliverOne(row: Row): Promise<void> {
    try {
      await this.options.deliver(row, this.log);
    } catch (error) {
      this.log?.error({ err: error }, `${this.options.name}: could not record a delivery; its claim runs out and it is tried again`);
    }
  }
}
