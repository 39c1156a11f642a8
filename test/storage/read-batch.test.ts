import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { preparedNamed } from '../../src/storage/prepared.js';
import type { Database } from '../../src/storage/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * SQLite's reads outside a transaction share one read transaction per turn of the event loop (read-batch.ts):
 * fewer WAL read locks, nothing seen later than an autocommit read would, and nothing held past the turn.
 * PostgreSQL has no such batch (each statement is its own round trip).
 */
describe('SQLite reads batched per turn of the event loop', () => {
  let database: TestDatabase;
  let storage: Storage;
  let other: SQLite.Database;
  const count = preparedNamed(['key'], (db: Kysely<Database>, p) => db.selectFrom('cache_invalidations').select((eb) => eb.fn.countAll<number>().as('n')).where('key', '=', p.key));
  const insert = preparedNamed(['key'], (db: Kysely<Database>, p) => db.insertInto('cache_invalidations').values({ created_at: 1, key: p.key, kind: 'token' }));
  const countOf = async (key: string) => Number((await count(storage.db, { key })).rows[0]!.n);
  /** A write by another process (another connection to the same file). */
  const elsewhere = (key: string) => other.prepare("insert into cache_invalidations (created_at, key, kind) values (1, ?, 'token')").run(key);

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    other = new SQLite(database.url.slice('sqlite:'.length));
    other.pragma('busy_timeout = 0');
  });
  afterAll(async () => {
    other?.close();
    await storage?.close();
    await database?.cleanup();
  });

  it("reads of one turn share one snapshot; the next turn's reads see what was committed elsewhere", async () => {
    await nextTurn();
    // Started in one turn: each runs its statement before its first await.
    const first = countOf('elsewhere');
    elsewhere('elsewhere');
    const second = countOf('elsewhere');
    expect([await first, await second]).toEqual([0, 0]);
    await nextTurn();
    expect(await countOf('elsewhere')).toBe(1);
  });

  it('a write of this process ends the batch: it commits at once, the reads after it see it, and a transaction can begin', async () => {
    await nextTurn();
    const before = countOf('own');
    const written = insert(storage.db, { key: 'own' });
    const after = countOf('own');
    expect([await before, await after]).toEqual([0, 1]);
    await written;
    // Committed, not left in a transaction: another connection sees it in the same turn.
    expect(other.prepare("select count(*) as n from cache_invalidations where key = 'own'").get()).toEqual({ n: 1 });
    const read = countOf('own');
    await storage.db.transaction().execute(async (trx) => {
      await insert(trx, { key: 'own' });
    });
    expect(await read).toBe(1);
    expect(await countOf('own')).toBe(2);
  });

  it('no read transaction outlives its turn: a TRUNCATE checkpoint of another connection then completes', async () => {
    const truncate = () => (other.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>)[0]!.busy;
    elsewhere('checkpoint');
    const read = countOf('checkpoint');
    // The read's snapshot holds the WAL for the rest of this turn.
    expect(truncate()).toBe(1);
    await read;
    await nextTurn();
    // The server's checkpoint thread (every 20 ms) may hold the checkpoint a moment: a few tries, none of ours between.
    let busy = truncate();
    for (let i = 0; i < 20 && busy !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      busy = truncate();
    }
    expect(busy).toBe(0);
  });
});
