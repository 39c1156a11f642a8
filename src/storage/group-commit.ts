import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Work that must commit before its caller is answered; it uses only the transaction it is given. */
export type Work<T> = (trx: Kysely<Database>) => Promise<T>;

/** Runs work in a transaction that has committed when the promise resolves. */
export type Transactor = <T>(work: Work<T>) => Promise<T>;

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
 * Group commit: the writes that arrive within one event-loop turn (and
 * while the previous group commits) share one transaction, each inside a
 * savepoint, so a job that fails is rolled back alone and the others still
 * commit. Every caller is answered only after the COMMIT that holds its rows,
 * so nothing acknowledged can be lost; a COMMIT that fails fails every job
 * of its group. On SQLite a commit writes every page it dirtied to the WAL,
 * and the busiest pages (the index tails of the token and usage tables) are
 * the same for every job of a group: one commit writes them once.
 */
export class GroupCommit {
  private readonly queue: Job[] = [];
  private draining = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly maxJobs = 256,
  ) {}

  readonly run: Transactor = <T>(work: Work<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.maxJobs);
      const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
      try {
        await this.db.transaction().execute(async (trx) => {
          for (const job of group) {
            await sql`savepoint job`.execute(trx);
            try {
              outcomes.push({ ok: true, value: await job.work(trx) });
            } catch (error) {
              await sql`rollback to savepoint job`.execute(trx);
              outcomes.push({ ok: false, error });
            }
            await sql`release savepoint job`.execute(trx);
          }
        });
      } catch (error) {
        for (const job of group) job.reject(error);
        continue;
      }
      group.forEach((job, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) job.resolve(outcome.value);
        else job.reject(outcome.error);
      });
    }
    this.draining = false;
  }
}
