import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/storage/unavailable.js';

/** What the pg driver throws for an ErrorResponse: the server's SQLSTATE in `code`. */
function postgresError(code: string, message = 'refused'): Error {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

describe('which database errors mean "unavailable" (503 with Retry-After, never 500)', () => {
  it.each([
    ['57P01', 'admin_shutdown'],
    ['57P02', 'crash_shutdown'],
    ['57P03', 'cannot_connect_now'],
    ['57P04', 'database_dropped'],
    ['57P05', 'idle_session_timeout'],
    ['53000', 'insufficient_resources'],
    ['53100', 'disk_full'],
    ['53200', 'out_of_memory'],
    ['53300', 'too_many_connections'],
    ['53400', 'configuration_limit_exceeded'],
    ['08000', 'connection_exception'],
    ['08001', 'sqlclient_unable_to_establish_sqlconnection'],
    ['08003', 'connection_does_not_exist'],
    ['08004', 'sqlserver_rejected_establishment_of_sqlconnection'],
    ['08006', 'connection_failure'],
    ['08007', 'transaction_resolution_unknown'],
    ['55000', 'object_not_in_prerequisite_state (database not accepting connections, recovery in progress)'],
    ['55P03', 'lock_not_available'],
    ['25006', 'read_only_sql_transaction (a standby after a failover)'],
    ['57014', 'query_canceled (statement_timeout)'],
    ['40001', 'serialization_failure (rolled back whole: the client retries)'],
    ['40P01', 'deadlock_detected (rolled back whole: the client retries)'],
  ])('PostgreSQL %s (%s)', (code) => {
    expect(isDatabaseUnavailable(postgresError(code))).toBe(true);
  });

  it.each([
    ['23505', 'unique_violation'],
    ['23503', 'foreign_key_violation'],
    ['42P01', 'undefined_table'],
    ['42703', 'undefined_column'],
    ['22P02', 'invalid_text_representation'],
    ['08P01', 'protocol_violation (a statement bound with the wrong parameter count)'],
    ['54000', 'program_limit_exceeded'],
    ['XX000', 'internal_error'],
    ['0800', 'not a SQLSTATE'],
    ['080000', 'not a SQLSTATE'],
  ])('not PostgreSQL %s (%s): a bug stays a 500', (code) => {
    expect(isDatabaseUnavailable(postgresError(code))).toBe(false);
  });

  it('SQLite: busy and locked (every extended code) and a full disk, not a constraint or a syntax error', () => {
    const sqlite = (code: string) => Object.assign(new Error('sqlite'), { code });
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE', 'SQLITE_FULL']) {
      expect(isDatabaseUnavailable(sqlite(code)), code).toBe(true);
    }
    for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_MISMATCH', 'SQLITE_BUSYX']) {
      expect(isDatabaseUnavailable(sqlite(code)), code).toBe(false);
    }
  });

  it('the driver and the network: error codes, messages, and any of an AggregateError', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([new Error('x'), Object.assign(new Error('y'), { code: 'EHOSTUNREACH' })]))).toBe(true);
    expect(isDatabaseUnavailable(new TypeError('Cannot read properties of undefined'))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
    expect(isDatabaseUnavailable('57P01')).toBe(false);
  });
});
