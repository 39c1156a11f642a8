import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { prepared, preparedIn, preparedNamed } from '../../src/storage/prepared.js';
import type { Database } from '../../src/storage/schema.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

/** Queries compiled once and run with new parameters, on every dialect, inside and outside transactions. */
describe.each(DIALECTS)('prepared queries (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
  });
  afterAll(async () => {
    await storage?.close();
    await database?.cleanup();
  });

  it.skipIf(!dialectAvailable(dialect))('named parameters fill every place they are used, in the order the SQL has them, and literals stay', async () => {
    const insert = preparedNamed(['kind', 'key', 'at'], (db: Kysely<Database>, p) => db.insertInto('cache_invalidations').values({ created_at: p.at, key: p.key, kind: p.kind }));
    // The same marker twice, in an order unlike the names', beside a literal.
    const select = preparedNamed(['key', 'kind'], (db: Kysely<Database>, p) =>
      db.selectFrom('cache_invalidations').select(['kind', 'key', 'created_at']).where('kind', '=', p.kind).where((eb) => eb.or([eb('key', '=', p.key), eb('kind', '=', 'never')])).where('key', '=', p.key),
    );
    await storage.db.transaction().execute(async (trx) => {
      await insert(trx, { kind: 'token', key: 'a', at: 1 });
      await insert(trx, { kind: 'family', key: 'b', at: 2 });
    });
    expect((await select(storage.db, { key: 'b', kind: 'family' })).rows.map((r) => ({ ...r, created_at: Number(r.created_at) }))).toEqual([{ kind: 'family', key: 'b', created_at: 2 }]);
    expect((await select(storage.db, { key: 'a', kind: 'family' })).rows).toEqual([]);
  });

  it.skipIf(!dialectAvailable(dialect))('a name the query does not use, or the wrong number of positional parameters, is an error at once', async () => {
    const unused = preparedNamed(['key', 'typo'], (db: Kysely<Database>, p) => db.selectFrom('cache_invalidations').selectAll().where('key', '=', p.key));
    await expect(unused(storage.db, { key: 'a', typo: 1 })).rejects.toThrow(/does not use its parameter typo/);
    const byKey = prepared(storage.db, (db) => db.selectFrom('cache_invalidations').selectAll().where('key', '=', ''));
    await expect(byKey()).rejects.toThrow(/wrong number of parameters/);
    const inTrx = preparedIn((db: Kysely<Database>) => db.selectFrom('cache_invalidations').select('key').where('key', '=', ''));
    expect((await storage.db.transaction().execute((trx) => inTrx(trx, 'a'))).rows).toEqual([{ key: 'a' }]);
  });

  it.skipIf(!dialectAvailable(dialect))('inside a transaction a statement is part of it (SQLite runs it on the connection at once, not through Kysely): same answers, rolled back with it, errors reject', async () => {
    const insert = preparedNamed(['id', 'key'], (db: Kysely<Database>, p) => db.insertInto('cache_invalidations').values({ id: p.id, created_at: 1, key: p.key, kind: 'token' }));
    const count = preparedNamed(['key'], (db: Kysely<Database>, p) => db.selectFrom('cache_invalidations').select((eb) => eb.fn.countAll<number>().as('n')).where('key', '=', p.key));
    const rename = preparedNamed(['key', 'to'], (db: Kysely<Database>, p) => db.updateTable('cache_invalidations').set({ key: p.to }).where('key', '=', p.key));
    let viaKysely = 0;
    await storage.db.transaction().execute(async (trx) => {
      const executeQuery = trx.executeQuery.bind(trx);
      trx.executeQuery = ((query: Parameters<typeof executeQuery>[0]) => {
        viaKysely++;
        return executeQuery(query);
      }) as typeof trx.executeQuery;
      await insert(trx, { id: 900_001, key: 'direct' });
      await insert(trx, { id: 900_002, key: 'direct' });
      expect(Number((await count(trx, { key: 'direct' })).rows[0]!.n)).toBe(2);
      expect((await rename(trx, { key: 'direct', to: 'renamed' })).numAffectedRows).toBe(2n);
    });
    expect(viaKysely).toBe(dialect === 'sqlite' ? 0 : 4);
    // A unique violation rejects the statement's promise, like any query.
    await expect(storage.db.transaction().execute((trx) => insert(trx, { id: 900_001, key: 'again' }))).rejects.toThrow(/unique|UNIQUE/);
    expect(Number((await count(storage.db, { key: 'renamed' })).rows[0]!.n)).toBe(2);
    // Rolled back with its transaction.
    await expect(
      storage.db.transaction().execute(async (trx) => {
        await insert(trx, { id: 900_003, key: 'undone' });
        expect(Number((await count(trx, { key: 'undone' })).rows[0]!.n)).toBe(1);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(Number((await count(storage.db, { key: 'undone' })).rows[0]!.n)).toBe(0);
  });

  it.skipIf(!dialectAvailable(dialect))('outside a transaction a statement runs at once while the connection is in none (SQLite), and never inside another caller\'s open transaction', async () => {
    const insert = preparedNamed(['key'], (db: Kysely<Database>, p) => db.insertInto('cache_invalidations').values({ created_at: 1, key: p.key, kind: 'token' }));
    const count = preparedNamed(['key'], (db: Kysely<Database>, p) => db.selectFrom('cache_invalidations').select((eb) => eb.fn.countAll<number>().as('n')).where('key', '=', p.key));
    const db = storage.db;
    let viaKysely = 0;
    const executeQuery = db.executeQuery.bind(db);
    db.executeQuery = ((query: Parameters<typeof executeQuery>[0]) => {
      viaKysely++;
      return executeQuery(query);
    }) as typeof db.executeQuery;
    try {
      await insert(db, { key: 'outside' });
      expect(Number((await count(db, { key: 'outside' })).rows[0]!.n)).toBe(1);
      expect(viaKysely).toBe(dialect === 'sqlite' ? 0 : 2);
      viaKysely = 0;
      // While another caller's transaction is open, a statement outside it waits for it to end and does not see inside it.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let began!: () => void;
      const begun = new Promise<void>((resolve) => (began = resolve));
      const transaction = db.transaction().execute(async (trx) => {
        await insert(trx, { key: 'inside' });
        began();
        await held;
        throw new Error('roll back');
      });
      await begun;
      const seen = count(db, { key: 'inside' });
      const written = insert(db, { key: 'beside' });
      // A fixed window on purpose: the two statements above get the chance to run (wrongly) inside the
      // open transaction before it ends. The anchor is `beside` landing after it, below.
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      await expect(transaction).rejects.toThrow('roll back');
      expect(Number((await seen).rows[0]!.n)).toBe(0);
      await written;
      expect(viaKysely).toBeGreaterThanOrEqual(2);
      // The write outside was not rolled back with the transaction it waited for.
      expect(Number((await count(db, { key: 'beside' })).rows[0]!.n)).toBe(1);
    } finally {
      db.executeQuery = executeQuery;
    }
  });

  it.skipIf(!dialectAvailable(dialect))('two databases in one process: a statement runs on the database of the transaction it is given', async () => {
    const other = await createTestDatabase(dialect);
    const second = openStorage(other.url);
    try {
      await migrateToLatest(second);
      const insert = preparedNamed(['key'], (db: Kysely<Database>, p) => db.insertInto('cache_invalidations').values({ created_at: 1, key: p.key, kind: 'token' }));
      const keys = async (s: Storage) => (await s.db.selectFrom('cache_invalidations').select('key').where('key', 'like', 'which-%').execute()).map((r) => r.key);
      await storage.db.transaction().execute((trx) => insert(trx, { key: 'which-first' }));
      await second.db.transaction().execute((trx) => insert(trx, { key: 'which-second' }));
      expect(await keys(storage)).toEqual(['which-first']);
      expect(await keys(second)).toEqual(['which-second']);
    } finally {
      await second.close();
      await other.cleanup();
    }
  });
});
