import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../../src/storage/database.js';
import type { Database } from '../../src/storage/schema.js';

export const PG_URL = process.env.TEST_DATABASE_URL_PG;

/** Every dialect suite is declared for both; PostgreSQL is skipped (and says so) without TEST_DATABASE_URL_PG. */
export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

export function dialectAvailable(dialect: Dialect): boolean {
  return dialect === 'sqlite' || Boolean(PG_URL);
}

export interface TestDatabase {
  dialect: Dialect;
  url: string;
  cleanup(): Promise<void>;
}

/** A fresh, empty database: a temp SQLite file, or a new PostgreSQL schema reached through search_path. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'serika-test-'));
    return {
      dialect,
      url: `sqlite:${join(dir, 'serika.db')}`,
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (!PG_URL) throw new Error('TEST_DATABASE_URL_PG is not set');
  // Named for this run: helpers/global-setup.ts drops them when every file is done.
  const run = process.env.SERIKA_TEST_SCHEMA_RUN;
  const schema = run ? `t_${run}_${randomBytes(6).toString('hex')}` : `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client(PG_URL);
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    dialect,
    url: url.toString(),
    async cleanup() {
      if (run) return;
      const client = new pg.Client(PG_URL);
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

/**
 * A step that fails midway, in a test's own database: every INSERT into `table` raises until the returned
 * function is called (a trigger, so the product code runs unchanged). For checking that a multi-step write
 * is one transaction.
 */
export async function failInserts(db: Kysely<Database>, dialect: Dialect, table: keyof Database): Promise<() => Promise<void>> {
  const name = sql.id(`fail_${table}`);
  if (dialect === 'sqlite') {
    await sql`create trigger ${name} before insert on ${sql.table(table)} begin select raise(abort, 'injected failure'); end`.execute(db);
    return async () => void (await sql`drop trigger ${name}`.execute(db));
  }
  await sql`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`.execute(db);
  await sql`create trigger ${name} before insert on ${sql.table(table)} for each row execute function ${name}()`.execute(db);
  return async () => {
    await sql`drop trigger ${name} on ${sql.table(table)}`.execute(db);
    await sql`drop function ${name}()`.execute(db);
  };
}
