import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { GroupCommit } from '../../src/storage/group-commit.js';
import type { Database } from '../../src/storage/schema.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

/** Group commit (issue 18) on every dialect: one transaction per event-loop turn, each job on its own savepoint. */
describe.each(DIALECTS)('group commit (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let reader: Storage;
  let n = 0;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    reader = openStorage(database.url);
    await migrateToLatest(storage);
  });
  afterAll(async () => {
    await storage?.close();
    await reader?.close();
    await database?.cleanup();
  });

  const insert = (trx: Kysely<Database>, kind: string) =>
    trx.insertInto('cache_invalidations').values({ kind, key: `k${++n}`, created_at: 0 }).returning('key').executeTakeFirstOrThrow();
  const stored = async (key: string) => Boolean(await reader.db.selectFrom('cache_invalidations').select('id').where('key', '=', key).executeTakeFirst());

  it.skipIf(!dialectAvailable(dialect))('commits the jobs of one turn in one transaction, and each caller only after that commit', async () => {
    const group = new GroupCommit(storage.db);
    const transactions = new Set<unknown>();
    const keys = await Promise.all(
      Array.from({ length: 20 }, () =>
        group.run(async (trx) => {
          transactions.add(trx);
          const row = await insert(trx, 'grouped');
          return row.key;
        }),
      ),
    );
    expect(transactions.size).toBe(1);
    // Answered means committed: another connection sees every row at once.
    for (const key of keys) expect(await stored(key)).toBe(true);
  });

  it.skipIf(!dialectAvailable(dialect))('a failing job fails alone: its group rolls back and the others commit on their own, once each', async () => {
    const group = new GroupCommit(storage.db);
    const failedKeys: string[] = [];
    let runs = 0;
    const results = await Promise.allSettled([
      group.run(async (trx) => {
        runs++;
        return (await insert(trx, 'kept-once')).key;
      }),
      group.run(async (trx) => {
        failedKeys.push((await insert(trx, 'doomed')).key);
        throw new Error('this job fails after writing');
      }),
      group.run(async (trx) => (await insert(trx, 'kept-once')).key),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('this job fails after writing');
    for (const key of failedKeys) expect(await stored(key)).toBe(false);
    for (const r of [results[0], results[2]]) expect(await stored((r as PromiseFulfilledResult<string>).value)).toBe(true);
    // The first run of each kept job was rolled back with the group; only its second run's row remains.
    expect(runs).toBe(2);
    const kept = await reader.db.selectFrom('cache_invalidations').select('key').where('kind', '=', 'kept-once').execute();
    expect(kept).toHaveLength(2);
  });

  it.skipIf(!dialectAvailable(dialect))('takes jobs that arrive while a group commits into the next group', async () => {
    const group = new GroupCommit(storage.db);
    const transactions: unknown[] = [];
    const first = group.run(async (trx) => {
      transactions.push(trx);
      // A job queued while this group is running: it must not join this (already running) transaction late.
      late = group.run(async (t) => {
        transactions.push(t);
        return (await insert(t, 'late')).key;
      });
      return (await insert(trx, 'early')).key;
    });
    let late!: Promise<string>;
    await first;
    expect(await stored(await late)).toBe(true);
    expect(transactions[0]).not.toBe(transactions[1]);
  });
});
