import { inspect } from 'node:util';
import { Migrator, sql, type MigrationResultSet } from 'kysely';
import type { Storage } from './database.js';
import { migrations } from './migrations/index.js';

class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

/**
 * Applies every pending migration. Kysely's migrator takes a lock, so
 * several processes starting at once on one PostgreSQL database are safe.
 * Returns the names of the migrations applied now.
 */
export async function migrateToLatest(storage: Storage): Promise<string[]> {
  const migrator = new Migrator({
    db: storage.db,
    provider: { getMigrations: async () => migrations },
    // Kysely looks for its bookkeeping tables in every schema unless told which one; name
    // ours, or another schema's tables (another tenant, another test run) would be taken for them.
    ...(storage.dialect === 'postgres' ? { migrationTableSchema: await currentSchema(storage) } : {}),
  });
  // SQLite: a migration that rebuilds a table must not cascade its DROP to the rows that reference
  // it (sqlite.org/lang_altertable.html §7); the pragma only takes effect outside a transaction.
  const sqlite = storage.dialect === 'sqlite';
  if (sqlite) await sql`pragma foreign_keys = off`.execute(storage.db);
  let result: MigrationResultSet;
  try {
    result = await migrator.migrateToLatest();
    // Only after a migration ran: the check reads every row that has a foreign key (seconds on a large database).
    if (sqlite && !result.error && (result.results?.length ?? 0) > 0) {
      const broken = await sql<{ table: string }>`pragma foreign_key_check`.execute(storage.db);
      if (broken.rows.length > 0) throw new MigrationError(`migrations left ${broken.rows.length} rows whose foreign keys point nowhere (first in ${broken.rows[0]!.table})`);
    }
  } finally {
    if (sqlite) await sql`pragma foreign_keys = on`.execute(storage.db);
  }
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : inspect(result.error);
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${cause}`, { cause: result.error });
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

async function currentSchema(storage: Storage): Promise<string> {
  const result = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(storage.db);
  const schema = result.rows[0]?.schema;
  if (!schema) throw new MigrationError('the PostgreSQL search_path names no existing schema to migrate');
  return schema;
}
