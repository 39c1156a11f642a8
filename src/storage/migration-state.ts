import { DEFAULT_MIGRATION_TABLE, sql, type Kysely } from 'kysely';
import type { Storage } from './database.js';
import type { OlderVersions, SerikaMigration } from './migrations/older-versions.js';
import type { Database, MigrationCompatibilityTable } from './schema.js';

const COMPATIBILITY_TABLE = 'migration_compatibility';

interface AppliedMigration {
  name: string;
  /** ISO-8601, as Kysely records it. */
  appliedAt: string;
}

/** A migration the database has and this version does not know: a newer version's. */
export interface NewerMigration extends AppliedMigration {
  /** As that version recorded it; null when it recorded nothing (then no older version may assume anything). */
  olderVersions: OlderVersions | null;
}

/** Where the database stands against this version's migration sequence. */
export interface MigrationState {
  /** This version's migrations the database has, in order. */
  applied: AppliedMigration[];
  /** This version's migrations the database lacks, in order. */
  pending: string[];
  newer: NewerMigration[];
  /** Applied migrations of this version without a compatibility row (run before the table existed, or by a bare Migrator). */
  unrecorded: string[];
}

/**
 * Reads Kysely's record of executed migrations, then migration_compatibility:
 * in that order, because a migration's compatibility row is written before
 * (SQLite) or with (PostgreSQL, one transaction) its executed row, so every
 * executed migration read first has its row by the second read.
 */
export async function readMigrationState(storage: Storage, known: Readonly<Record<string, SerikaMigration>>): Promise<MigrationState> {
  const tables = await existingTables(storage, [DEFAULT_MIGRATION_TABLE, COMPATIBILITY_TABLE]);
  const executed = tables.has(DEFAULT_MIGRATION_TABLE)
    ? (await sql<{ name: string; timestamp: string }>`select name, timestamp from ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(storage.db)).rows
    : [];
  const records = tables.has(COMPATIBILITY_TABLE) ? await storage.db.selectFrom('migration_compatibility').selectAll().execute() : [];
  const appliedAt = new Map(executed.map((row) => [row.name, row.timestamp]));
  const recorded = new Map(records.map((row) => [row.name, row]));
  const names = Object.keys(known).sort();
  return {
    applied: names.filter((name) => appliedAt.has(name)).map((name) => ({ name, appliedAt: appliedAt.get(name)! })),
    pending: names.filter((name) => !appliedAt.has(name)),
    newer: [...appliedAt.keys()]
      .filter((name) => !Object.hasOwn(known, name))
      .sort()
      .map((name) => ({ name, appliedAt: appliedAt.get(name)!, olderVersions: fromRow(recorded.get(name)) })),
    unrecorded: tables.has(COMPATIBILITY_TABLE) ? names.filter((name) => appliedAt.has(name) && !recorded.has(name)) : [],
  };
}

/**
 * Writes what migrations leave for older versions; a row already there is
 * kept (the migration's own run wrote it). `db` is the migration's
 * connection or transaction, or the storage's for rows written afterwards.
 */
export async function recordCompatibility(db: Kysely<Database> | Kysely<unknown>, migrations: ReadonlyArray<{ name: string; olderVersions: OlderVersions }>, now: number): Promise<void> {
  if (migrations.length === 0) return;
  await (db as Kysely<Database>)
    .insertInto('migration_compatibility')
    .values(migrations.map(({ name, olderVersions }) => toRow(name, olderVersions, now)))
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute();
}

function toRow(name: string, olderVersions: OlderVersions, now: number): MigrationCompatibilityTable {
  if (olderVersions.compatible) return { name, compatible_with_older: 1, unless_they_have: null, breaks: null, recorded_at: now };
  return { name, compatible_with_older: 0, unless_they_have: olderVersions.unlessTheyHave ?? null, breaks: olderVersions.breaks, recorded_at: now };
}

function fromRow(row: MigrationCompatibilityTable | undefined): OlderVersions | null {
  if (!row) return null;
  if (row.compatible_with_older === 1) return { compatible: true };
  return { compatible: false, breaks: row.breaks ?? 'not said', ...(row.unless_they_have ? { unlessTheyHave: row.unless_they_have } : {}) };
}

/** Which of these tables exist: in the current schema on PostgreSQL (where Kysely keeps its own, migrate.ts). */
async function existingTables(storage: Storage, names: string[]): Promise<Set<string>> {
  const rows =
    storage.dialect === 'postgres'
      ? await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_name in (${sql.join(names)})`.execute(storage.db)
      : await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name in (${sql.join(names)})`.execute(storage.db);
  return new Set(rows.rows.map((row) => row.name));
}
