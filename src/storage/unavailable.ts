/**
 * Whether an error means the database cannot serve this request right now
 * (a restart, a dropped connection, a full pool, a locked SQLite file), as
 * opposed to a bug: those become 503s with Retry-After that clients may retry,
 * on every endpoint's error format, never 500s (SPEC §6, issues 8 and 30).
 */
const CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  // PostgreSQL SQLSTATEs (postgresql.org/docs/current/errcodes-appendix.html) outside the classes below.
  '57014', // query_canceled: statement_timeout or an operator's pg_cancel_backend
  '25006', // read_only_sql_transaction: a standby after a failover, or default_transaction_read_only for maintenance
  // object_not_in_prerequisite_state: Serika's statements (plain DML on its own tables, no sequences) meet it only from
  // the server's state: "database … is not currently accepting connections" (ALLOW_CONNECTIONS false), "recovery is in progress".
  '55000',
  '55P03', // lock_not_available: an operator's lock_timeout, as SQLITE_BUSY
  // Serialization failures and deadlocks are not an outage, but PostgreSQL has rolled the whole transaction back and
  // says to retry it: a 503 lets the client do so. Retrying inside Serika would run again transaction callbacks that
  // are not all pure, and could hide a lock-order bug that a warning in the log names.
  '40001', // serialization_failure (only under an isolation level an operator set)
  '40P01', // deadlock_detected
  'SQLITE_FULL', // the disk is full, as PostgreSQL's 53100
]);

/** Whole SQLSTATE classes: 08 connection exception, 53 insufficient resources (53300 too_many_connections, 53100 disk_full, …), 57P operator intervention (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, …). */
const CLASSES = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P[0-9A-Z]{2})$/;
/** 08P01 protocol_violation is a driver or statement fault (a bind with the wrong parameter count), not a lost connection. */
const NOT_UNAVAILABLE = new Set(['08P01']);
/** Every SQLITE_BUSY_* and SQLITE_LOCKED_* extended code. */
const SQLITE = /^SQLITE_(BUSY|LOCKED)(_[A-Z]+)?$/;

const MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|the database system is (starting up|shutting down)|terminating connection|database is locked/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string') {
    if (CODES.has(e.code) || SQLITE.test(e.code)) return true;
    if (CLASSES.test(e.code) && !NOT_UNAVAILABLE.has(e.code)) return true;
  }
  if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
  // AggregateError from a dual-stack connect attempt.
  return Array.isArray(e.errors) && e.errors.some(isDatabaseUnavailable);
}
