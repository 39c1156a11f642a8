import { SqliteAdapter, sql, type Kysely, type QueryResult } from 'kysely';
import type { Database } from './schema.js';

/**
 * Items pushed within one event-loop turn, handed over together once it
 * ends (in groups of at most `max`), each group at once: unlike group commit's
 * queue, a group never waits for the one before it.
 */
export class TurnBatches<T> {
  private items: T[] = [];

  constructor(
    private readonly handle: (items: T[]) => void,
    private readonly max = 256,
  ) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const items = this.items;
    this.items = [];
    for (let i = 0; i < items.length; i += this.max) this.handle(items.slice(i, i + this.max));
  }
}

/** One caller's read. */
interface Read<R> {
  key: string;
  resolve: (row: R | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads of one row by its key (a token's or a code's stored hash) that
 * arrive within one event-loop turn, made by one statement for all of them
 * (PostgreSQL: `key = any($1)`): one round trip instead of one each. On
 * PostgreSQL the round trip, not the lookup, is most of a read's cost: the
 * driver's socket write alone was a third of a refresh's CPU (bench/NOTES.md).
 * Nothing is held between the reads, so a caller's answer is what its own
 * statement would have read a moment later. Callers asking for the same key
 * in one turn each get a row of their own.
 */
export class BatchedReads<R> {
  private readonly batches: TurnBatches<Read<R>>;

  constructor(
    /** The rows of the keys that exist, in any order. */
    private readonly load: (keys: string[]) => Promise<readonly R[]>,
    private readonly keyOf: (row: R) => string,
  ) {
    this.batches = new TurnBatches((reads) => void this.read(reads));
  }

  get(key: string): Promise<R | undefined> {
    return new Promise<R | undefined>((resolve, reject) => this.batches.push({ key, resolve, reject }));
  }

  private async read(reads: Array<Read<R>>): Promise<void> {
    let rows: readonly R[];
    try {
      rows = await this.load([...new Set(reads.map((r) => r.key))]);
    } catch (error) {
      for (const read of reads) read.reject(error);
      return;
    }
    const byKey = new Map(rows.map((row) => [this.keyOf(row), row]));
    const given = new Set<R>();
    for (const read of reads) {
      const row = byKey.get(read.key);
      if (row && given.has(row)) read.resolve({ ...row });
      else {
        if (row) given.add(row);
        read.resolve(row);
      }
    }
  }
}

/**
 * A lookup by key: on PostgreSQL batched per event-loop turn (`many`), on
 * SQLite one statement each (`one`): its reads are calls within the process,
 * with no round trip to save.
 */
export function lookupByKey<R>(
  db: Kysely<Database>,
  one: (key: string) => Promise<QueryResult<R>>,
  many: (keys: string[]) => Promise<QueryResult<R>>,
  keyOf: (row: R) => string,
): (key: string) => Promise<R | undefined> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) return async (key) => (await one(key)).rows[0];
  const batched = new BatchedReads(async (keys) => (await many(keys)).rows, keyOf);
  return (key) => batched.get(key);
}

/** `column = any($n)` with one parameter, an array of keys (PostgreSQL), for a prepared batched read. */
export const anyOf = (column: string) => sql<boolean>`${sql.ref(column)} = any(${[] as string[]}::text[])`;
