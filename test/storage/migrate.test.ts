import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/accounts/users-service.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { readMigrationState } from '../../src/storage/migration-state.js';
import { createIndexConcurrently } from '../../src/storage/migrations/concurrent-index.js';
import { migrations } from '../../src/storage/migrations/index.js';
import { COMPATIBLE, type SerikaMigration } from '../../src/storage/migrations/older-versions.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { ADDITIVE, BREAKING, additive, breaking, migrateAsNewerVersion } from '../helpers/newer-version.js';

describe.each(DIALECTS)('migrations across versions (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
  });
  afterEach(async () => {
    await storage?.close();
    await database?.cleanup();
  });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('records what every migration leaves for older versions, 0006 as breaking', async () => {
      await migrateToLatest(storage);
      const rows = await storage.db.selectFrom('migration_compatibility').select(['name', 'compatible_with_older']).orderBy('name').execute();
      expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
      expect(rows.filter((r) => r.compatible_with_older === 0).map((r) => r.name)).toEqual(['0006_agents', '0018_second_factors', '0022_passkeys', '0028_grant_characters']);
    });

    it('runs on a database a newer version migrated when its migrations are compatible, with one warning naming them', async () => {
      expect(await migrateAsNewerVersion(storage, { [ADDITIVE]: additive })).toContain(ADDITIVE);
      const warnings: string[] = [];
      expect(await migrateToLatest(storage, { warn: (m) => warnings.push(m) })).toEqual([]);
      expect(warnings).toEqual([`the database was migrated by a newer version: its migration ${ADDITIVE}, unknown to this version, recorded that older versions may run on it; running`]);
      // This version's code on the expanded schema: a new user, found again.
      const users = new UsersService(storage.db, () => 1_800_000_000_000);
      const created = await users.create({ username: 'olduser', password: 'a good password' });
      expect((await users.verifyCredentials('OldUser', 'a good password'))?.id).toBe(created.id);
      // The newer version itself sees nothing newer.
      const again: string[] = [];
      expect(await migrateAsNewerVersion(storage, { [ADDITIVE]: additive }, { warn: (m) => again.push(m) })).toEqual([]);
      expect(again).toEqual([]);
    });

    it('refuses a database where a newer migration breaks older versions, naming it and what to do', async () => {
      await migrateAsNewerVersion(storage, { [ADDITIVE]: additive, [BREAKING]: breaking() });
      await expect(migrateToLatest(storage)).rejects.toThrow(
        `this version cannot run on the database: a newer version applied its migration ${BREAKING}, which older versions cannot run on: users.avatar is gone. Run a version that has ${BREAKING}, or restore the backup taken before it was applied (docs/deploying.md, "Upgrades and rollbacks")`,
      );
    });

    it('lets a contract step spare the versions that have the migration it names, and only those', async () => {
      await migrateAsNewerVersion(storage, { [BREAKING]: breaking({ compatible: false, breaks: 'users.avatar is gone', unlessTheyHave: '0015_migration_compatibility' }) });
      expect(await migrateToLatest(storage)).toEqual([]);

      const other = await createTestDatabase(dialect);
      const s = openStorage(other.url);
      try {
        await migrateAsNewerVersion(s, { [ADDITIVE]: additive, [BREAKING]: breaking({ compatible: false, breaks: 'users.avatar is gone', unlessTheyHave: ADDITIVE }) });
        await expect(migrateToLatest(s)).rejects.toThrow(`Run a version that has ${BREAKING} or ${ADDITIVE},`);
      } finally {
        await s.close();
        await other.cleanup();
      }
    });

    it('refuses a newer migration that recorded nothing about older versions', async () => {
      await migrateToLatest(storage);
      await sql`insert into kysely_migration (name, timestamp) values ('9003_unrecorded', ${new Date().toISOString()})`.execute(storage.db);
      await expect(migrateToLatest(storage)).rejects.toThrow(/its migration 9003_unrecorded, which recorded nothing about older versions\. Run a version that has 9003_unrecorded/);
    });

    it('fills in the rows of migrations applied before migration_compatibility existed', async () => {
      const db = storage.db as unknown as Kysely<unknown>;
      const early = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0015'));
      expect(await migrateToLatest(storage, { migrations: early })).toHaveLength(13);
      expect(await migrateToLatest(storage)).toEqual(Object.keys(migrations).filter((name) => name >= '0015'));
      const state = await readMigrationState(storage, migrations);
      expect(state).toMatchObject({ pending: [], newer: [], unrecorded: [] });
      expect(await db.selectFrom('migration_compatibility' as never).select(sql<number>`count(*)`.as('n')).executeTakeFirst()).toEqual({ n: Object.keys(migrations).length });
    });

    it('runs a migration marked outsideTransaction alone, between transactional batches, in order', async () => {
      const order: string[] = [];
      const step = (name: string, outsideTransaction: boolean): SerikaMigration => ({
        olderVersions: COMPATIBLE,
        outsideTransaction,
        up: async (db) => {
          order.push(`${name}:${db.isTransaction || dialect === 'sqlite' ? 'same' : 'alone'}`);
          if (outsideTransaction) await createIndexConcurrently(db, 'usage_records_created', 'usage_records', ['created_at']);
        },
      });
      const applied = await migrateAsNewerVersion(storage, { '9101_before': step('before', false), '9102_index': step('index', true), '9103_after': step('after', false) });
      expect(applied.slice(-3)).toEqual(['9101_before', '9102_index', '9103_after']);
      expect(order).toEqual(dialect === 'sqlite' ? ['before:same', 'index:same', 'after:same'] : ['before:same', 'index:alone', 'after:same']);
      const index = dialect === 'sqlite' ? sql`select name from sqlite_master where type = 'index' and name = 'usage_records_created'` : sql`select indexname as name from pg_indexes where indexname = 'usage_records_created' and schemaname = current_schema()`;
      expect((await index.execute(storage.db)).rows).toHaveLength(1);
    });
  });

  describe.skipIf(!dialectAvailable(dialect) || dialect !== 'postgres')('PostgreSQL', () => {
    let holder: pg.Client;
    /** Another connection in an open transaction that has read users: it holds ACCESS SHARE, which ALTER TABLE waits for. */
    const holdUsers = async () => {
      holder = new pg.Client(database.url);
      await holder.connect();
      await holder.query('begin');
      await holder.query('select count(*) from users');
    };
    afterEach(async () => {
      await holder?.end().catch(() => {});
    });
    const alterUsers: SerikaMigration = { olderVersions: COMPATIBLE, up: async (db) => void (await db.schema.alterTable('users').addColumn('nickname', 'text').execute()) };

    it('gives up on a table lock after lock_timeout, tries again, then fails with the clear message, having changed nothing', async () => {
      await migrateToLatest(storage);
      await holdUsers();
      const warnings: string[] = [];
      const started = Date.now();
      await expect(migrateAsNewerVersion(storage, { '9201_alter_users': alterUsers }, { lockTimeoutMs: 200, lockTries: 2, retryPauseMs: 50, warn: (m) => warnings.push(m) })).rejects.toThrow(
        'migration 9201_alter_users could not lock the tables it changes within 0.2 s, 2 times: a long transaction holds them (pg_stat_activity shows it; a pg_dump counts); it was rolled back so as not to stall requests queued behind it — run it again (npx serika migrate) once that transaction ends',
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(warnings).toEqual(['migration 9201_alter_users waited 0.2 s for a table lock and was rolled back; trying again in 0.05 s (try 2 of 2)']);
      const state = await readMigrationState(storage, migrations);
      expect(state.newer).toEqual([]);
      const columns = await sql<{ name: string }>`select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = 'users' and column_name = 'nickname'`.execute(storage.db);
      expect(columns.rows).toEqual([]);
    });

    it('applies the migration on a later try once the lock is released', async () => {
      await migrateToLatest(storage);
      await holdUsers();
      const warnings: string[] = [];
      // The first timeout releases the lock: the next try finds the table free.
      const warn = (message: string) => {
        if (warnings.push(message) === 1) void holder.query('rollback');
      };
      expect(await migrateAsNewerVersion(storage, { '9201_alter_users': alterUsers }, { lockTimeoutMs: 200, lockTries: 10, retryPauseMs: 100, warn })).toEqual(['9201_alter_users']);
      expect(warnings[0]).toMatch(/^migration 9201_alter_users waited 0\.2 s for a table lock and was rolled back; trying again in 0\.1 s \(try 2 of 10\)$/);
    });

    it('lets a second process wait its turn while the first builds an index concurrently (no deadlock)', async () => {
      await migrateToLatest(storage);
      // The build starts once the second process waits: a wait inside one statement (Kysely's pg_advisory_lock)
      // holds a snapshot, which CREATE INDEX CONCURRENTLY waits for, while it waits for the builder's lock.
      // The second process starts once the first is inside its migration (not after a fixed delay, which a
      // loaded machine outran: the second then went first).
      let started!: () => void;
      const begun = new Promise<void>((resolve) => (started = resolve));
      const slowIndex: SerikaMigration = {
        olderVersions: COMPATIBLE,
        outsideTransaction: true,
        up: async (db) => {
          started();
          await sql`select pg_sleep(1.5)`.execute(db);
          await createIndexConcurrently(db, 'usage_records_created', 'usage_records', ['created_at']);
        },
      };
      const other = openStorage(database.url);
      try {
        const [first, second] = await Promise.all([
          migrateAsNewerVersion(storage, { '9401_index': slowIndex }),
          begun.then(() => migrateAsNewerVersion(other, { '9401_index': slowIndex })),
        ]);
        expect([first, second]).toEqual([['9401_index'], []]);
      } finally {
        await other.close();
      }
    });

    it('builds an index concurrently again over an invalid one left by a failed build, and refuses to inside a transaction', async () => {
      await migrateToLatest(storage);
      await sql`insert into users (id, username, username_lower, email, password_hash, avatar, created_at, updated_at) values ('u1', 'a', 'a', null, 'x', null, 1, 1), ('u2', 'b', 'b', null, 'x', null, 1, 1)`.execute(storage.db);
      // A unique build over duplicate values fails and leaves an INVALID index behind.
      await expect(sql`create unique index concurrently users_created on users (created_at)`.execute(storage.db)).rejects.toThrow(/could not create unique index/);
      // This test's schema only: other tests' databases are schemas of the same PostgreSQL database (one a killed run
      // left behind may hold an index of this name).
      const validity = sql<{ valid: boolean }>`select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'users_created' and c.relnamespace = current_schema()::regnamespace`;
      expect((await validity.execute(storage.db)).rows).toEqual([{ valid: false }]);

      const inTransaction: SerikaMigration = { olderVersions: COMPATIBLE, up: (db) => createIndexConcurrently(db, 'users_created', 'users', ['created_at']) };
      await expect(migrateAsNewerVersion(storage, { '9301_index': inTransaction })).rejects.toThrow('createIndexConcurrently(users_created) needs a migration marked outsideTransaction');
      expect(await migrateAsNewerVersion(storage, { '9301_index': { ...inTransaction, outsideTransaction: true } })).toEqual(['9301_index']);
      expect((await validity.execute(storage.db)).rows).toEqual([{ valid: true }]);
    });
  });
});
