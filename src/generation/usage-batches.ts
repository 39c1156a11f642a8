import type { Insertable, Kysely, QueryCreator } from 'kysely';
import { GroupQueue, type Batch, type BatchItem, type Lead, type Work } from '../storage/group-commit.js';
import type { Database } from '../storage/schema.js';

type UsageRow = Insertable<Database['usage_records']>;

interface Job {
  row: UsageRow;
  alongside: Work<void> | undefined;
  settle: BatchItem<unknown> | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for usage rows (PostgreSQL; bench/NOTES.md, issue 39): the rows of calls that end while the
 * previous batch commits are written together — one multi-row INSERT, then each call's own writes beside
 * its row (a response's owner), then the budget settlements of the batch, all of a kind at once
 * (budget-leases.ts: one UPDATE per grant) — in one transaction, so one WAL flush serves them all. Every
 * call is answered only after the COMMIT that holds its row: nothing acknowledged is lost. When a batch
 * fails, each of its calls is written again in a transaction of its own, so a failure fails only its caller.
 */
export class UsageBatches {
  private readonly queue: GroupQueue<Job>;

  constructor(
    private readonly db: Kysely<Database>,
    maxJobs = 256,
  ) {
    this.queue = new GroupQueue(maxJobs, (group) => this.commit(group));
  }

  /** Resolves with the settlement's result once the row (and what goes with it) has committed. */
  write(row: UsageRow, alongside?: Work<void>, settle?: BatchItem<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => this.queue.push({ row, alongside, settle, resolve, reject }));
  }

  private async commit(group: Job[]): Promise<void> {
    const byBatch = parts(group);
    let results: unknown[];
    try {
      results = await this.db.transaction().execute((trx) => this.writeAll(trx, group, byBatch));
    } catch {
      await this.oneByOne(group);
      return;
    }
    for (const [batch, items] of byBatch) await batch.committed(items.map(([, item]) => item));
    group.forEach((job, i) => job.resolve(results[i]));
  }

  private async writeAll(trx: Kysely<Database>, group: readonly Job[], byBatch = parts(group)): Promise<unknown[]> {
    const insert = (db: QueryCreator<Database>) => db.insertInto('usage_records').values(group.map((job) => job.row));
    const [first] = byBatch.keys();
    // The rows ride on the first settlement's statement when nothing of a call's own must follow them.
    const lead: Lead | undefined = first && group.every((job) => !job.alongside) ? { db: trx.with('usage', insert) as unknown as QueryCreator<Database>, carried: false } : undefined;
    if (!lead) await insert(trx).execute();
    for (const job of group) await job.alongside?.(trx);
    // Settlements last: the budget rows they lock are held only until the commit that follows.
    const results: unknown[] = group.map(() => undefined);
    for (const [batch, items] of byBatch) {
      const settled = await batch.run(
        trx,
        items.map(([, item]) => item),
        batch === first ? lead : undefined,
      );
      items.forEach(([index], i) => (results[index] = settled[i]));
    }
    if (lead && !lead.carried) await insert(trx).execute();
    return results;
  }

  /** A batch that failed, again call by call: each commits or fails on its own. */
  private async oneByOne(group: readonly Job[]): Promise<void> {
    for (const job of group) {
      try {
        const [result] = await this.db.transaction().execute((trx) => this.writeAll(trx, [job]));
        if (job.settle) await job.settle.batch.committed([job.settle.item]);
        job.resolve(result);
      } catch (error) {
        if (job.settle) job.settle.batch.failed([job.settle.item]);
        job.reject(error);
      }
    }
  }
}

/** The settlements of a group by the batch that does them, each with its job's index. */
function parts(group: readonly Job[]): Map<Batch<unknown, unknown>, Array<[number, unknown]>> {
  const byBatch = new Map<Batch<unknown, unknown>, Array<[number, unknown]>>();
  group.forEach((job, index) => {
    if (!job.settle) return;
    const items = byBatch.get(job.settle.batch) ?? [];
    items.push([index, job.settle.item]);
    byBatch.set(job.settle.batch, items);
  });
  return new Map([...byBatch].sort(([a], [b]) => Number(a.last ?? false) - Number(b.last ?? false)));
}
