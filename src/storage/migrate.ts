import { inspect } from 'node:util';
import { Migrator, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import type { Storage } from './database.js';
import { readMigrationState, recordCompatibility } from './migration-state.js';
import type { Database } from './schema.js';
import { migrations, RECORDED_FROM } from './migrations/index.js';
import type { SerikaMigration } from './migrations/older-versions.js';
import { newerWarning, refusal } from './newer-migrations.js';

class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface MigrateOptions {
  /** The sequence to apply: the product's unless a test plays a newer version with more. */
  migrations?: Readonly<Record<string, SerikaMigration>>;
  /** Told, in one line each, that a newer version migrated the database, and of each retry after a lock timeout. */
  warn?: (message: string) => void;
  /** PostgreSQL: the longest a migration waits for a table lock (lock_timeout), how many tries, the pause before the first retry (doubling). */
  lockTimeoutMs?: number;
  lockTries?: number;
  retryPauseMs?: number;
}

/**
 * While a migration waits for a table's lock, every request that touches the
 * table queues behind it (PostgreSQL grants locks in order): a migration
 * waiting on one long transaction once held the token endpoint for 9.9 s. So
 * a migration waits at most this long, then rolls back, and tries again later.
 */
export const MIGRATION_LOCK = Object.freeze({ timeoutMs: 3000, tries: 4, firstPauseMs: 1000 });
/** Another process migrating between our look and our lock (Kysely then finds its migrations "missing"): look again, this often at most. */
const RACES = 5;

/**
 * Applies every pending migration. Kysely's migrator takes a lock, so
 * several processes starting at once on one PostgreSQL database are safe.
 * A database that a newer version migrated is left as it is: this version
 * runs on it (with one warning) when every migration it does not know
 * recorded that older versions may, and refuses (a MigrationError naming the
 * migration) when one did not. Returns the names of the migrations applied now.
 */
export async function migrateToLatest(storage: Storage, options: MigrateOptions = {}): Promise<string[]> {
  // SQLite: a migration that rebuilds a table must not cascade its DROP to the rows that reference
  // it (sqlite.org/lang_altertable.html §7); the pragma only takes effect outside a transaction.
  const sqlite = storage.dialect === 'sqlite';
  if (sqlite) await sql`pragma foreign_keys = off`.execute(storage.db);
  try {
    const applied = await applyPending(storage, options);
    // Only after a migration ran: the check reads every row that has a foreign key (seconds on a large database).
    if (sqlite && applied.length > 0) {
      const broken = await sql<{ table: string }>`pragma foreign_key_check`.execute(storage.db);
      if (broken.rows.length > 0) throw new MigrationError(`migrations left ${broken.rows.length} rows whose foreign keys point nowhere (first in ${broken.rows[0]!.table})`);
    }
    return applied;
  } finally {
    if (sqlite) await sql`pragma foreign_keys = on`.execute(storage.db);
  }
}

async function applyPending(storage: Storage, options: MigrateOptions): Promise<string[]> {
  const known = options.migrations ?? migrations;
  const lockTimeoutMs = options.lockTimeoutMs ?? MIGRATION_LOCK.timeoutMs;
  const lockTries = options.lockTries ?? MIGRATION_LOCK.tries;
  // Kysely looks for its bookkeeping tables in every schema unless told which one; name
  // ours, or another schema's tables (another tenant, another test run) would be taken for them.
  const schema = storage.dialect === 'postgres' ? await currentSchema(storage) : undefined;
  const applied: string[] = [];
  let lockFailures = 0;
  let races = 0;
  for (;;) {
    const state = await readMigrationState(storage, known);
    await recordCompatibility(storage.db, state.unrecorded.map((name) => ({ name, olderVersions: known[name]!.olderVersions })), Date.now());
    const refused = refusal(state, known);
    if (refused) throw new MigrationError(refused);
    if (state.newer.length > 0) {
      options.warn?.(newerWarning(state.newer));
      return applied;
    }
    if (state.pending.length === 0) return applied;

    const batch = nextBatch(state.pending, known);
    const result = await inTurn(storage, (db) => runBatch(db, known, batch, storage.dialect, schema, lockTimeoutMs));
    if (!result.error) {
      applied.push(...(result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName));
      continue;
    }
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? '(unknown)';
    if (isLockTimeout(result.error)) {
      const waited = `${lockTimeoutMs / 1000} s`;
      if (++lockFailures >= lockTries) {
        throw new MigrationError(
          `migration ${failed} could not lock the tables it changes within ${waited}, ${lockTries} times: a long transaction holds them (pg_stat_activity shows it; a pg_dump counts); it was rolled back so as not to stall requests queued behind it — run it again (npx serika migrate) once that transaction ends`,
          { cause: result.error },
        );
      }
      const pause = (options.retryPauseMs ?? MIGRATION_LOCK.firstPauseMs) * 2 ** (lockFailures - 1);
      options.warn?.(`migration ${failed} waited ${waited} for a table lock and was rolled back; trying again in ${pause / 1000} s (try ${lockFailures + 1} of ${lockTries})`);
      await new Promise((resolve) => setTimeout(resolve, pause));
      continue;
    }
    if (isKyselyOrderError(result.error) && ++races < RACES) continue;
    const cause = result.error instanceof Error ? result.error.message : inspect(result.error);
    throw new MigrationError(`migration ${failed} failed: ${cause}`, { cause: result.error });
  }
}

interface Batch {
  /** The last migration of the batch: Kysely is given the sequence up to it. */
  last: string;
  outsideTransaction: boolean;
}

/**
 * The pending migrations up to the first that must run outside a transaction,
 * in one transaction (PostgreSQL); or that migration alone, outside one.
 */
function nextBatch(pending: readonly string[], known: Readonly<Record<string, SerikaMigration>>): Batch {
  const first = pending[0]!;
  if (known[first]!.outsideTransaction) return { last: first, outsideTransaction: true };
  const apart = pending.findIndex((name) => known[name]!.outsideTransaction);
  return { last: apart === -1 ? pending[pending.length - 1]! : pending[apart - 1]!, outsideTransaction: false };
}

function runBatch(db: Kysely<Database>, known: Readonly<Record<string, SerikaMigration>>, batch: Batch, dialect: Storage['dialect'], schema: string | undefined, lockTimeoutMs: number): Promise<MigrationResultSet> {
  const postgres = dialect === 'postgres';
  const upTo: Record<string, Migration> = {};
  for (const [name, migration] of Object.entries(known)) if (name <= batch.last) upTo[name] = withBookkeeping(name, migration, postgres, lockTimeoutMs);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => upTo },
    disableTransactions: batch.outsideTransaction,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  return migrator.migrateToLatest();
}

/** Serika's own advisory lock key (any constant: it only has to differ from what else takes advisory locks). */
const TURN_LOCK = 7_305_182_046_331_901;
const TURN_POLL_MS = 100;

/**
 * On PostgreSQL, one migrating process at a time, the others waiting by polling pg_try_advisory_lock between
 * short statements. Kysely's own lock (pg_advisory_lock) waits inside one statement, which holds a snapshot the
 * whole wait: CREATE INDEX CONCURRENTLY waits for every older snapshot to end, so a build under Kysely's lock and
 * a second instance waiting for that lock waited for each other (deadlock detected: two instances started at once
 * on a migration that builds an index concurrently). Once a process holds this turn, Kysely's lock is free to take.
 * The batch runs on the connection that holds the turn (DATABASE_POOL_SIZE may be 1).
 */
async function inTurn<T>(storage: Storage, run: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (storage.dialect !== 'postgres') return run(storage.db);
  return storage.db.connection().execute(async (connection) => {
    while (!(await sql<{ taken: boolean }>`select pg_try_advisory_lock(${sql.lit(TURN_LOCK)}) as taken`.execute(connection)).rows[0]!.taken) {
      await new Promise((resolve) => setTimeout(resolve, TURN_POLL_MS));
    }
    try {
      return await run(connection);
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(TURN_LOCK)})`.execute(connection);
    }
  });
}

/**
 * A migration as it runs: on PostgreSQL with lock_timeout (for its transaction,
 * or for the session around one run outside a transaction), then recording
 * what it leaves for older versions in its own run, before Kysely records it
 * as executed (readMigrationState relies on that order).
 */
function withBookkeeping(name: string, migration: SerikaMigration, postgres: boolean, lockTimeoutMs: number): Migration {
  const local = !migration.outsideTransaction;
  return {
    up: async (db) => {
      if (postgres) await sql`select set_config('lock_timeout', ${`${Math.round(lockTimeoutMs)}ms`}, ${local})`.execute(db);
      try {
        await migration.up(db);
      } finally {
        if (postgres && !local) await sql`reset lock_timeout`.execute(db);
      }
      if (name >= RECORDED_FROM) await recordCompatibility(db, [{ name, olderVersions: migration.olderVersions }], Date.now());
    },
    ...(migration.down ? { down: (db) => migration.down!(db) } : {}),
  };
}

/** PostgreSQL's lock_not_available: lock_timeout expired. */
function isLockTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55P03';
}

function isKyselyOrderError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('corrupted migrations:');
}

async function currentSchema(storage: Storage): Promise<string> {
  const result = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(storage.db);
  const schema = result.rows[0]?.schema;
  if (!schema) throw new MigrationError('the PostgreSQL search_path names no existing schema to migrate');
  return schema;
}
