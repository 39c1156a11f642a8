import type { FastifyBaseLogger } from 'fastify';
import { PostgresAdapter, type ExpressionBuilder, type Kysely, type QueryCreator } from 'kysely';
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
 * Up to `limit` due rows (and up to `limit` more whose claim ran out: an
 * instance that died mid-send), each claimed for this caller, in one
 * statement: an UPDATE … RETURNING of the rows a subquery chose. SQLite runs
 * one writer at a time, so two instances' statements never claim a row
 * twice; PostgreSQL locks the chosen rows and skips those another claim
 * holds (`FOR UPDATE SKIP LOCKED`; a row another claim changed meanwhile is
 * re-read and re-checked, as READ COMMITTED does). Every row of a claim gets
 * the same `claimed_until`, which is the claim's token: a later claim of a
 * row (only after this one ran out) sets a later one, so an outcome recorded
 * "where claimed_until = token" is never a stale claimer's.
 */
export async function claimDue<T extends OutboxTableName>(db: Kysely<Database>, table: T, limit: number, now: number, claimMs: number): Promise<Array<Database[T]>> {
  // Both tables share the claim columns; Kysely is told only of those, under one name.
  const outbox = (db as unknown as Kysely<{ outbox: ClaimColumns }>).withTables<{ outbox: ClaimColumns }>();
  const name = table as unknown as 'outbox';
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const pending = (eb: ExpressionBuilder<{ outbox: ClaimColumns }, 'outbox'>) => eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', now)]);
  const expired = (eb: ExpressionBuilder<{ outbox: ClaimColumns }, 'outbox'>) => eb.and([eb('state', '=', 'sending'), eb('claimed_until', '<', now)]);
  // Each kind chosen apart, so each reads only its first rows along the (state, next_attempt_at) index, never every due row.
  const choose = (qb: QueryCreator<{ outbox: ClaimColumns }>, which: typeof pending) => {
    const chosen = qb.selectFrom(name).select(['id', 'next_attempt_at']).where(which).orderBy('next_attempt_at').limit(limit);
    return postgres ? chosen.forUpdate().skipLocked() : chosen;
  };
  const claimed = await outbox
    .updateTable(name)
    .set({ state: 'sending', claimed_until: now + claimMs })
    .where('id', 'in', outbox.selectFrom(choose(outbox, pending).as('p')).select('p.id').unionAll(outbox.selectFrom(choose(outbox, expired).as('e')).select('e.id')))
    .returningAll()
    .execute();
  // RETURNING keeps no order: the oldest due first, as chosen.
  claimed.sort((a, b) => Number(a.next_attempt_at) - Number(b.next_attempt_at) || (a.id < b.id ? -1 : 1));
  return claimed as unknown as Array<Database[T]>;
}

export interface OutboxLoopOptions<Row> {
  /** What the loop is called in its log lines ("mail", "events"). */
  name: string;
  /** Claims up to `limit` due rows. */
  claim: (limit: number) => Promise<Row[]>;
  /** Delivers a claimed batch, recording the outcomes itself; a throw is logged and the claims run out. */
  deliver: (rows: Row[], log: FastifyBaseLogger | null) => Promise<void>;
  /** How often the outbox is read when nothing in this process woke the loop. */
  pollMs: number;
  /** Rows claimed per read. */
  batch: number;
  /**
   * Awaited between two full batches, so the loop takes a share of the
   * event loop rather than all of it (`items`: the batch's size; `signal`
   * aborts at close()); by default a turn (setImmediate).
   */
  pause?: (items: number, signal: AbortSignal) => Promise<void>;
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
  private readonly closing = new AbortController();
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
    this.closing.abort();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async drain(): Promise<void> {
    const { batch, claim, deliver, name } = this.options;
    const pause = this.options.pause ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
    try {
      for (;;) {
        const claimed = await claim(batch);
        if (claimed.length > 0) {
          try {
            await deliver(claimed, this.log);
          } catch (error) {
            this.log?.error({ err: error }, `${name}: could not record deliveries; their claims run out and they are tried again`);
          }
        }
        if (claimed.length < batch || this.closed) return;
        await pause(claimed.length, this.closing.signal);
        if (this.closed) return;
      }
    } catch (error) {
      // The database away: the next poll tries again; nothing was lost (rows stay pending or claimed until their claim runs out).
      this.log?.warn({ err: error }, `${name}: could not read the outbox; trying again`);
    }
  }
}
