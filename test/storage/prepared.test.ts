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
});
