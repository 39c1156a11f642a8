import { rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { Kysely, SqliteDialect, sql, type PostgresPool, type PostgresPoolClient, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { startCheckpointer, type Checkpointer } from './wal-checkpointer.js';
import { registerDirect } from './prepared.js';
import { registerCommitStamp } from './commit-stamp.js';
import { CurrentSchemaPostgresDialect } from './pg-introspector.js';
import { createOwnerOnlyFile, ensureOwnerOnlyDirectory, tightenToOwnerOnly } from './file-modes.js';
import { statementTracer } from '../tracing/database-spans.js';
import type { Tracing } from '../tracing/tracing.js';

export type Dialect = 'sqlite' | 'postgres';

/** The one storage handle every domain receives: a typed Kysely instance and its dialect. */
export interface Storage {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Resolves when the database answers a trivial query. */
  ping(timeoutMs?: number): Promise<void>;
  /**
   * SQLite only: a consistent copy of the live database to a new file, with
   * SQLite's online backup API (safe while serving; copying the .db file
   * alone in WAL mode is not). Returns the pages copied.
   */
  backup?(destination: string): Promise<number>;
  /**
   * PostgreSQL only: calls onNotify for every NOTIFY on the channel (and once
   * after each (re)connection, for what was missed while away), over a
   * connection of its own that reconnects every second while lost. Returns
   * the function that stops listening.
   */
  listen?(channel: string, onNotify: () => void): () => Promise<void>;
  /** PostgreSQL only: the pool's connections, for metrics. */
  poolStats?: () => { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

const INT8_OID = 20;
/** pg's own default, and DATABASE_POOL_SIZE's (SPEC §1). */
const DEFAULT_POOL_SIZE = 10;

function sqlitePath(url: string): string {
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  return path;
}

/**
 * Kysely prepares every query anew; SQLite statements are reusable, so keep
 * them by SQL text (the driver runs one query at a time, so a statement is
 * never in use twice). prepare() was a hot spot of the token endpoint (bench/NOTES.md).
 */
function withStatementCache(connection: SQLite.Database, tracing: Tracing | null): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  const traced = tracing && statementTracer(tracing, 'sqlite');
  return {
    close: () => connection.close(),
    prepare: (text: string) => {
      let statement = statements.get(text);
      if (!statement) {
        statement = connection.prepare(text);
        if (traced) statement = tracedStatement(statement, (run) => traced(text, run));
        if (statements.size < 2000) statements.set(text, statement);
      }
      return statement;
    },
  };
}

/** A statement whose runs are spans (Kysely's and the direct runner's calls: reader, all, run, iterate). */
function tracedStatement(statement: SQLite.Statement, traced: <T>(run: () => T) => T): SQLite.Statement {
  return {
    reader: statement.reader,
    all: (parameters: unknown[]) => traced(() => statement.all(parameters)),
    run: (parameters: unknown[]) => traced(() => statement.run(parameters)),
    iterate: (parameters: unknown[]) => statement.iterate(parameters),
  } as unknown as SQLite.Statement;
}

/**
 * SPEC §6: the database is owner-only from its first byte. SQLite creates the
 * -wal and -shm with the database file's mode, so the file is created 0600
 * before SQLite opens it; files left readable by others (by an older version)
 * are tightened, and the caller is told.
 */
function prepareSqliteFiles(path: string, warn: (message: string) => void): void {
  ensureOwnerOnlyDirectory(dirname(resolve(path)));
  createOwnerOnlyFile(path, false);
  const tightened = tightenToOwnerOnly([path, `${path}-wal`, `${path}-shm`]);
  if (tightened.length > 0) {
    const files = tightened.map((f) => `${f.path} (was ${f.mode})`).join(', ');
    warn(`made the database files owner-only (0600), as they hold password hashes and keys: ${files}`);
  }
}

function openSqlite(url: string, options: StorageOptions): Storage {
  const path = sqlitePath(url);
  if (path !== ':memory:' && path !== '') prepareSqliteFiles(path, options.onWarning ?? (() => {}));
  const connection = new SQLite(path);
  // WAL with synchronous=NORMAL is durable against a process crash, and a power loss may roll back the last
  // commits but never corrupts the file (SPEC §6); the busy timeout lets the CLI and a running server share the file.
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  connection.pragma('busy_timeout = 5000');
  // A 64 MiB page cache, and no memory map: mapped pages count in the process's RSS as the file
  // grows, so RSS would climb with the database for hours (the soak in bench/run.mjs).
  connection.pragma('cache_size = -65536');
  // Checkpoints on a thread of their own (wal-checkpointer.ts): a serving commit never copies the WAL.
  let checkpointer: Checkpointer | undefined;
  if (path !== ':memory:' && path !== '') {
    leavesCheckpointsToThread(connection);
    checkpointer = startCheckpointer(resolve(path), () => checkpointsItself(connection), {
      // Holding Kysely's one connection keeps every transaction from starting until the copy is done.
      onBehind: (catchUp) => db.connection().execute(catchUp),
      ...(options.walRestartFrames ? { restartFrames: options.walRestartFrames } : {}),
    });
  }
  const cached = withStatementCache(connection, options.tracing ?? null);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cached }) });
  // What SqliteConnection.executeQuery answers, without its promise (prepared.ts runs it where nothing can be between).
  registerDirect(db, {
    run(text, parameters) {
      const statement = cached.prepare(text) as unknown as SQLite.Statement;
      if (statement.reader) return { rows: statement.all(parameters) };
      const { changes, lastInsertRowid } = statement.run(parameters);
      return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    },
    inTransaction: () => connection.inTransaction,
  });
  const closeStamp = checkpointer ? registerCommitStamp(db, resolve(path)) : () => {};
  return {
    db,
    dialect: 'sqlite',
    async ping() {
      await sql`select 1`.execute(db);
    },
    async backup(destination) {
      // Owner-only before SQLite writes a page into it (SPEC §6): the backup holds what the database does.
      try {
        createOwnerOnlyFile(destination, true);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new Error(`${destination} already exists; back up to a new file`);
        if (code === 'ENOENT') throw new Error(`cannot save the backup: the directory ${dirname(destination)} does not exist`);
        throw error;
      }
      // Every step copies the whole file from one read snapshot, which writers (WAL) never wait on.
      // SQLite restarts a backup at its next step when another connection wrote in between, so a step
      // of fewer pages than the file then holds (the last step's count, while servers grow the file)
      // never finishes. better-sqlite3 clamps a negative step ("all") to 0, hence the largest int.
      try {
        const result = await connection.backup(destination, { progress: () => 0x7fffffff });
        return result.totalPages;
      } catch (error) {
        // better-sqlite3 removes only a file it created; this one is ours.
        rmSync(destination, { force: true });
        throw error;
      }
    },
    async close() {
      await checkpointer?.stop();
      closeStamp();
      // The last connection out checkpoints and deletes the WAL, with the syncs of any NORMAL checkpoint.
      await db.destroy();
    },
  };
}

/**
 * While the checkpoint thread runs, the serving connection never checkpoints.
 * It keeps synchronous=NORMAL (set at open, SPEC §6), so its one sync is of
 * the WAL's header when a commit starts the WAL again, after every checkpoint
 * that caught up (so after every idle 20 ms): an fsync on the event loop,
 * which SQLite makes inside the commit and no setting moves to another thread.
 * Under synchronous=OFF the new header
 * may reach the disk after frames written over the old WAL, and a power loss
 * between them can corrupt the database (sqlite.org/src/info/ff5be73dee);
 * with it, a power loss may only roll back the last commits. Its cost is in
 * bench/NOTES.md.
 */
export function leavesCheckpointsToThread(connection: SQLite.Database): void {
  connection.pragma('wal_autocheckpoint = 0');
}

/** The checkpoint thread is gone: the serving connection checkpoints by itself again (every 1,000 pages), with NORMAL's syncs. */
export function checkpointsItself(connection: SQLite.Database): void {
  connection.pragma('wal_autocheckpoint = 1000');
}

function openPostgres(url: string, options: StorageOptions): Storage {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: 5000,
    // bigint columns hold epoch milliseconds, well inside Number's safe range.
    types: {
      getTypeParser: ((oid: number, format?: string): unknown =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection dropped by the server must not crash the process;
  // the next query gets a fresh connection or a clear error.
  pool.on('error', () => {});
  const traced = options.tracing ? statementTracer(options.tracing, 'postgresql') : null;
  const db = new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool: withNamedStatements(pool, traced) }) });
  return {
    db,
    dialect: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    listen: (channel, onNotify) => listen(url, channel, onNotify),
    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs);
      });
      try {
        await Promise.race([sql`select 1`.execute(db), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await db.destroy();
    },
  };
}

function listen(url: string, channel: string, onNotify: () => void): () => Promise<void> {
  if (!/^[a-z_]+$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const again = () => {
    // connect never rejects: it catches its own failures and schedules the next try.
    if (!stopped && !retry) retry = setTimeout(() => void connect(), 1000).unref();
  };
  const connect = async () => {
    retry = undefined;
    const candidate = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    candidate.on('error', () => {});
    candidate.on('end', () => {
      if (client === candidate) client = null;
      again();
    });
    candidate.on('notification', () => onNotify());
    try {
      await candidate.connect();
      await candidate.query(`listen ${channel}`);
      if (stopped) return void candidate.end().catch(() => {});
      client = candidate;
      onNotify();
    } catch {
      candidate.end().catch(() => {});
      again();
    }
  };
  void connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => {});
  };
}

/**
 * Parameterised queries run as named (server-side prepared) statements, so
 * PostgreSQL parses and plans each one once per connection instead of on
 * every call; pg remembers what each connection has prepared.
 */
function withNamedStatements(pool: pg.Pool, traced: (<T>(text: string, run: () => T) => T) | null): PostgresPool {
  const names = new Map<string, string>();
  const nameFor = (text: string) => {
    let name = names.get(text);
    if (!name) {
      name = 's' + createHash('sha1').update(text).digest('hex').slice(0, 20);
      if (names.size < 5000) names.set(text, name);
    }
    return name;
  };
  const guarded = new WeakSet<pg.PoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      // A connection that dies while checked out (PostgreSQL restarting) emits 'error'
      // on the client; its query fails with the same error, so only keep the process alive.
      if (!guarded.has(client)) {
        guarded.add(client);
        client.on('error', () => {});
      }
      const query = (text: unknown, values?: unknown[]) =>
        typeof text === 'string' && Array.isArray(values) && values.length > 0 && values.length <= 64
          ? client.query({ name: nameFor(text), text, values })
          : client.query(text as string, values);
      return {
        query: (traced ? (text: unknown, values?: unknown[]) => (typeof text === 'string' ? traced(text, () => query(text, values)) : query(text, values)) : query) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}

export interface StorageOptions {
  /** SQLite: the WAL's length in frames past which it is copied whole and started again (wal-checkpointer.ts). */
  walRestartFrames?: number;
  /** Told what opening fixed that the operator should know of (SQLite: database files made owner-only). */
  onWarning?: (message: string) => void;
  /** PostgreSQL: the most connections the pool opens (DATABASE_POOL_SIZE). */
  poolSize?: number;
  /** OTEL_*: every statement a traced request runs is a span (tracing/database-spans.ts). */
  tracing?: Tracing | null;
}

/** Chooses the dialect from DATABASE_URL (SPEC §1). */
export function openStorage(databaseUrl: string, options: StorageOptions = {}): Storage {
  if (databaseUrl.startsWith('sqlite:')) return openSqlite(databaseUrl, options);
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return openPostgres(databaseUrl, options);
  throw new Error(`Unsupported DATABASE_URL scheme: ${databaseUrl.split(':')[0]}`);
}
