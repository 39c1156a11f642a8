import type SQLite from 'better-sqlite3';

/**
 * SQLite reads outside any transaction share one read transaction per turn
 * of the event loop, ended before the connection writes anything and at the
 * turn's end (setImmediate). In WAL mode every read transaction takes and
 * drops a read lock on the -shm file, two `fcntl` calls that cost more than
 * an indexed read itself (bench/NOTES.md, issue 39: 14–17 µs of CPU per
 * autocommit read of a code against 5–6 µs inside a transaction); the
 * introspection's budget read and the redemption's code read each paid them.
 *
 * What a read sees stays what an autocommit read would: the snapshot is taken
 * at the turn's first read, after the requests of that turn arrived, and it
 * ends before this process writes (its own writes are always seen by the reads
 * after them). It holds back a checkpoint for one turn at most.
 */
export interface ReadBatch {
  /** Called before every statement runs: a SELECT outside a transaction joins (or opens) the turn's read transaction; anything else ends it first. */
  before(batched: boolean): void;
  /** True while the connection is in a transaction of its own (not the read batch). */
  inTransaction(): boolean;
  /** Ends the read transaction, if one is open. */
  end(): void;
}

/** Whether a statement may join a read batch: a plain SELECT (not a pragma, nor a write that returns rows). */
export const batchable = (text: string, statement: SQLite.Statement): boolean => statement.reader && /^\s*select\b/i.test(text);

export function readBatch(connection: SQLite.Database): ReadBatch {
  const begin = connection.prepare('begin');
  const commit = connection.prepare('commit');
  let open = false;
  const end = () => {
    if (!open) return;
    open = false;
    // A read transaction writes nothing: its COMMIT only drops the read lock.
    if (connection.inTransaction) commit.run();
  };
  return {
    before(batched) {
      if (!batched) return end();
      if (open || connection.inTransaction) return;
      begin.run();
      open = true;
      setImmediate(end);
    },
    inTransaction: () => connection.inTransaction && !open,
    end,
  };
}
