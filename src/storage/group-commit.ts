import type { Kysely, QueryCreator } from 'kysely';
import type { Database } from './schema.js';

/**
 * Work that must commit before its caller is answered. It uses only the
 * transaction it is given and may be run a second time after that
 * transaction rolled back (group commit), so it has no effect outside it.
 */
export type Work<T> = (trx: Kysely<Database>) => Promise<T>;

/** Runs work in a transaction that has committed when the promise resolves. */
export type Transactor = <T>(work: Work<T>) => Promise<T>;

/**
 * Work many callers each add an item to, done for all of them in one transaction (a usage batch: one
 * statement for every row), or for one alone. `run` has no effect outside the transaction it is given and
 * may run again after a rollback; `committed` (or `failed`) follows its commit (or its last failure).
 */
export interface Batch<I, R> {
  /** Its items are done each in a transaction of its own, never beside other callers' (they lock rows in an order of their own). */
  readonly solo?: boolean;
  /** Its rows are locked after other batches' (a lock order): a usage batch (PostgreSQL) runs it after them. */
  readonly last?: boolean;
  run(trx: Kysely<Database>, items: readonly I[], lead?: Lead): Promise<R[]>;
  committed(items: readonly I[]): void | Promise<void>;
  failed(items: readonly I[]): void;
}

/**
 * The statement a usage batch (PostgreSQL) runs first, its rows' INSERT, offered to the batch that runs after it:
 * `run` may build its own first statement on `db`, which carries the INSERT as a data-modifying WITH (one round trip
 * fewer), and then sets `carried`; else the usage batch runs the INSERT itself.
 */
export interface Lead {
  readonly db: QueryCreator<Database>;
  carried: boolean;
}

/** One caller's item of a batch. */
export interface BatchItem<R> {
  batch: Batch<unknown, R>;
  item: unknown;
}

/** Runs one caller's batch item (after `before`'s writes) in a transaction of the transactor: what a batch does for one. */
export async function commitOne<R>(transact: Transactor, part: BatchItem<R>, before?: Work<void>): Promise<R> {
  let result: R;
  try {
    result = await transact(async (trx) => {
      await before?.(trx);
      return (await part.batch.run(trx, [part.item]))[0]!;
    });
  } catch (error) {
    part.batch.failed([part.item]);
    throw error;
  }
  await part.batch.committed([part.item]);
  return result;
}

interface Job {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Each job's own transaction: what a transactor does without group commit. */
export function ownTransaction(db: Kysely<Database>): Transactor {
  return (work) => db.transaction().execute(work);
}

/**
 * Jobs queued within one event-loop turn (and while the previous group is handled), handed over in groups of
 * at most `max`, one group at a time: the queue of group commit and of the usage batches alike.
 */
export class GroupQueue<J> {
  private readonly queue: J[] = [];
  private draining = false;

  constructor(
    private readonly max: number,
    private readonly handle: (group: J[]) => Promise<void>,
  ) {}

  push(job: J): void {
    this.queue.push(job);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.handle(this.queue.splice(0, this.max));
    this.draining = false;
  }
}

/**
 * Group commit: the writes that arrive within one event-loop turn (and
 * while the previous group commits) share one transaction. Every caller is
 * answered only after the COMMIT that holds its rows, so nothing
 * acknowledged can be lost. Optimistic: no savepoint per job (two statements
 * each; bench/NOTES.md); when a job fails, the whole group rolls
 * back and each of its jobs runs again in a transaction of its own, so a
 * failure fails only its own caller (and a failed COMMIT is retried job by
 * job). On SQLite a commit writes every page it dirtied to the WAL, and the
 * busiest pages (the index tails of the token and usage tables) are the same
 * for every job of a group: one commit writes them once.
 */
export class GroupCommit {
  private readonly queue: GroupQueue<Job>;

  constructor(
    private readonly db: Kysely<Database>,
    maxJobs = 256,
  ) {
    this.queue = new GroupQueue(maxJobs, (group) => this.commit(group));
  }

  readonly run: Transactor = <T>(work: Work<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject }));

  private async commit(group: Job[]): Promise<void> {
    let values: unknown[];
    try {
      values = await this.db.transaction().execute(async (trx) => {
        const out: unknown[] = [];
        for (const job of group) out.push(await job.work(trx));
        return out;
      });
    } catch (error) {
      if (group.length === 1) group[0]!.reject(error);
      else await this.oneByOne(group);
      return;
    }
    group.forEach((job, i) => job.resolve(values[i]));
  }

  /** A group that failed, again job by job: each commits or fails on its own. */
  private async oneByOne(group: Job[]): Promise<void> {
    for (const job of group) {
      try {
        job.resolve(await this.db.transaction().execute(job.work));
      } catch (error) {
        job.reject(error);
      }
    }
  }
}
