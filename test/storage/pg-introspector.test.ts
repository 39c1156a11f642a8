import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresIntrospector, sql } from 'kysely';
import pg from 'pg';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { CurrentSchemaIntrospector } from '../../src/storage/pg-introspector.js';
import { PG_URL, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

/**
 * The migrator asks the introspector whether its tables exist at every start. Kysely's lists every
 * schema and resolves each table by name as it goes, so a table renamed or dropped in another
 * schema during the query failed a start ("relation t_….cache_invalidations does not exist": one
 * test file renamed its table while another file's server started). A read snapshot taken before
 * the rename makes that window certain here.
 */
describe.skipIf(!dialectAvailable('postgres'))('PostgreSQL introspection (postgres)', () => {
  let database: TestDatabase;
  let elsewhere: TestDatabase;
  let storage: Storage;
  let admin: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    elsewhere = await createTestDatabase('postgres');
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    admin = new pg.Client(elsewhere.url);
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await storage?.close();
    await database?.cleanup();
    await elsewhere?.cleanup();
  });

  it('reads only the current schema and resolves no name, so another schema changing under it cannot fail it', async () => {
    expect(PG_URL).toBeTruthy();
    expect(storage.db.introspection).toBeInstanceOf(CurrentSchemaIntrospector);
    await admin.query('create table moving (id bigserial primary key, note text)');
    await storage.db.connection().execute(async (connection) => {
      await sql`begin isolation level repeatable read`.execute(connection);
      try {
        await sql`select 1`.execute(connection);
        await admin.query('alter table moving rename to moved');
        // Kysely's own introspector, in the same snapshot: the failure this replaces.
        await sql`savepoint stock`.execute(connection);
        await expect(new PostgresIntrospector(connection).getTables()).rejects.toThrow(/relation ".*moving" does not exist/);
        await sql`rollback to savepoint stock`.execute(connection);
        const tables = await new CurrentSchemaIntrospector(connection).getTables({ withInternalKyselyTables: true });
        const names = tables.map((t) => t.name);
        expect(names).toContain('kysely_migration');
        expect(names).toContain('cache_invalidations');
        expect(names).not.toContain('moving');
        expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([new URL(database.url).searchParams.get('options')!.split('=')[1]]));
        const outbox = tables.find((t) => t.name === 'cache_invalidations')!;
        expect(outbox.columns.map((c) => [c.name, c.isAutoIncrementing, c.isNullable])).toEqual([
          ['id', true, false],
          ['kind', false, false],
          ['key', false, false],
          ['created_at', false, false],
        ]);
        const plain = await new CurrentSchemaIntrospector(connection).getTables();
        expect(plain.map((t) => t.name)).not.toContain('kysely_migration');
      } finally {
        await sql`rollback`.execute(connection);
      }
    });
    // And a start (the migrator's checks) goes through while the other schema is renamed back and forth.
    let flips = 0;
    let flipping = true;
    const flipper = (async () => {
      while (flipping) {
        await admin.query(flips++ % 2 ? 'alter table moving rename to moved' : 'alter table moved rename to moving');
      }
    })();
    try {
      for (let i = 0; i < 20; i++) expect(await migrateToLatest(storage)).toEqual([]);
    } finally {
      flipping = false;
      await flipper;
    }
    expect(flips).toBeGreaterThan(0);
  });
});
