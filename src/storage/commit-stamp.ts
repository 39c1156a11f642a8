import { closeSync, existsSync, openSync, readSync, realpathSync } from 'node:fs';
import { endianness } from 'node:os';
import { LRUCache } from 'lru-cache';

/**
 * sqlite.org/walformat.html §2.1: the -shm file begins with the WAL-index header, 48 bytes, twice. A writer
 * rewrites both at every commit (the second copy, a memory barrier, then the first), and readers take a
 * snapshot only from a header whose copies agree: the header is what makes a commit visible. It changes at
 * every commit of any connection of any process (iChange counts them, mxFrame grows) and when the WAL starts
 * again (new salts), so an unchanged header means nothing was committed.
 */
const HEADER_BYTES = 48;
/** WALINDEX_MAX_VERSION: the only layout this reader knows. */
const WAL_INDEX_VERSION = 3007000;
const IS_INIT = 12;

/**
 * The committed state of a SQLite database in WAL mode, as one read of its WAL-index header: equal headers,
 * equal database. Opened on the live connection's file after it has read the database (so the -shm exists);
 * null where the file is not in WAL mode, the layout is not the one this knows, or the host is big-endian
 * (the index is in native byte order and the check reads it as little-endian).
 */
export class CommitStamp {
  private readonly scratch = Buffer.alloc(HEADER_BYTES * 2);
  private readonly first = this.scratch.subarray(0, HEADER_BYTES);

  private constructor(private fd: number | null) {}

  /**
   * The stamp of the database at this path; null where it cannot be one (big-endian, no -shm, another layout);
   * undefined while the header is not readable yet (a writer between its copies, not initialised): ask again.
   */
  static open(databasePath: string): CommitStamp | null | undefined {
    if (endianness() !== 'LE') return null;
    let fd: number;
    try {
      fd = openSync(`${databasePath}-shm`, 'r');
    } catch {
      return null;
    }
    const stamp = new CommitStamp(fd);
    const header = stamp.now();
    if (!header || header.readUInt32LE(0) !== WAL_INDEX_VERSION) {
      stamp.close();
      return header ? null : undefined;
    }
    return stamp;
  }

  /**
   * The header as it stands (a view valid until the next call), or null while a writer is between its two
   * copies (or recovering a crashed writer's WAL): then nothing may be trusted and the caller reads the database.
   */
  now(): Buffer | null {
    if (this.fd === null) return null;
    if (readSync(this.fd, this.scratch, 0, HEADER_BYTES * 2, 0) !== HEADER_BYTES * 2) return null;
    if (this.scratch[IS_INIT] !== 1 || this.scratch.compare(this.scratch, HEADER_BYTES, HEADER_BYTES * 2, 0, HEADER_BYTES) !== 0) return null;
    return this.first;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Stamps by the Kysely instance they describe, found by the services that read through it (as prepared.ts's runners). */
const stamps = new WeakMap<object, () => CommitStamp | null>();

/**
 * Registers a SQLite database's stamp (database.ts), opened at its first use after the connection has read the
 * database (its -shm exists from then on; asked again until it does). Returns what closes it with the database.
 */
export function registerCommitStamp(db: object, databasePath: string): () => void {
  let stamp: CommitStamp | null | undefined;
  let closed = false;
  // SQLite follows a symbolic link to the database and keeps its -shm beside the file itself.
  let real: string | undefined;
  stamps.set(db, () => {
    if (stamp === undefined && !closed) {
      real ??= realpathSync(databasePath);
      if (existsSync(`${real}-shm`)) stamp = CommitStamp.open(real);
    }
    return stamp ?? null;
  });
  return () => {
    closed = true;
    stamp?.close();
  };
}

/**
 * Reads of committed rows remembered per key while the database stays as it was when they were read: each use
 * reads the stamp (one pread) and the row only when any connection has committed since. Exact on every
 * instance sharing the file, unlike a cache kept fresh by an invalidation feed. Without a stamp (PostgreSQL,
 * an in-memory database) every use reads. A read must be of committed state only (outside a transaction: the
 * prepared statements queue behind another caller's open one), and its value is shared: never mutated.
 */
export class CommittedReads<V> {
  private readonly entries: LRUCache<string, { stamp: Buffer; value: V }>;
  private readonly stamp: () => CommitStamp | null;
  private last: Buffer | undefined;
  /** Whether the database is a SQLite file, whose reads are remembered (or, where its header is unknown, cheap). */
  readonly stamped: boolean;

  constructor(db: object, max = 10_000) {
    const stamp = stamps.get(db);
    this.stamped = stamp !== undefined;
    this.stamp = stamp ?? (() => null);
    this.entries = new LRUCache({ max });
  }

  async read(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.stamp()?.now();
    if (!now) return load();
    const hit = this.entries.get(key);
    if (hit && hit.stamp.equals(now)) return hit.value;
    // Taken before the read: a commit between the two leaves a newer row under an older stamp, which the next
    // use finds changed and reads again; never an older row under a newer stamp.
    const stamp = this.copy(now);
    const value = await load();
    // Shared by every caller from now on.
    if (typeof value === 'object' && value !== null) Object.freeze(value);
    this.entries.set(key, { stamp, value });
    return value;
  }

  /**
   * The header kept with an entry: the last copy while the header stays the same (entries read between two
   * commits share it), else a copy of its own — never a slice of Node's shared pool, which would keep 8 KiB
   * alive per entry.
   */
  private copy(now: Buffer): Buffer {
    if (this.last?.equals(now)) return this.last;
    this.last = Buffer.allocUnsafeSlow(now.length);
    now.copy(this.last);
    return this.last;
  }
}
