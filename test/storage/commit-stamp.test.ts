import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitStamp, CommittedReads } from '../../src/storage/commit-stamp.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { preparedNamed } from '../../src/storage/prepared.js';
import type { Database } from '../../src/storage/schema.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

/** A row of cache_invalidations as the value read, through a prepared statement (one per database) as the budget's row is read. */
const selects = new WeakMap<Storage, ReturnType<typeof selectOf>>();
const selectOf = () => preparedNamed(['key'], (db: Kysely<Database>, p) => db.selectFrom('cache_invalidations').select('created_at').where('kind', '=', 'stamp').where('key', '=', p.key));
async function readKey(storage: Storage, key: string): Promise<number | undefined> {
  if (!selects.has(storage)) selects.set(storage, selectOf());
  const row = (await selects.get(storage)!(storage.db, { key })).rows[0];
  return row === undefined ? undefined : Number(row.created_at);
}

/** One copy of a WAL-index header: its version, its change counter, initialised. */
function header(version: number, change: number): Buffer {
  const copy = Buffer.alloc(48);
  copy.writeUInt32LE(version, 0);
  copy.writeUInt32LE(change, 8);
  copy[12] = 1;
  return copy;
}

/** Counts the loads a CommittedReads makes: a use it answered from memory loads nothing. */
function counted(reads: CommittedReads<number | undefined>, storage: Storage) {
  let loads = 0;
  return {
    read: (key: string) =>
      reads.read(key, () => {
        loads++;
        return readKey(storage, key);
      }),
    loads: () => loads,
  };
}

describe('CommittedReads on SQLite: exact for every connection and process sharing the file', () => {
  let database: TestDatabase;
  let a: Storage;
  let b: Storage;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    a = openStorage(database.url);
    await migrateToLatest(a);
    b = openStorage(database.url);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.cleanup();
  });

  const write = (storage: Storage, key: string, value: number) =>
    sql`insert into cache_invalidations (kind, key, created_at) values ('stamp', ${key}, ${value})`.execute(storage.db);
  const change = (storage: Storage, key: string, value: number) =>
    sql`update cache_invalidations set created_at = ${value} where kind = 'stamp' and key = ${key}`.execute(storage.db);

  it('reads once while nothing is committed, and again after any commit: this connection, another, another process', async () => {
    await write(a, 'k1', 1);
    const reads = counted(new CommittedReads(a.db), a);
    expect(await reads.read('k1')).toBe(1);
    expect(await reads.read('k1')).toBe(1);
    expect(await reads.read('k1')).toBe(1);
    expect(reads.loads()).toBe(1);

    await change(b, 'k1', 2);
    expect(await reads.read('k1')).toBe(2);
    expect(reads.loads()).toBe(2);

    await change(a, 'k1', 3);
    expect(await reads.read('k1')).toBe(3);
    expect(reads.loads()).toBe(3);

    // Another process: its commit rewrites the same shared header.
    const path = database.url.slice('sqlite:'.length);
    const child = spawnSync(process.execPath, ['-e', `const db = new (require('better-sqlite3'))(${JSON.stringify(path)}); db.pragma('busy_timeout = 5000'); db.prepare("update cache_invalidations set created_at = 4 where kind = 'stamp' and key = 'k1'").run(); db.close();`], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(await reads.read('k1')).toBe(4);
    expect(reads.loads()).toBe(4);
  });

  it('a database reached through a symbolic link is stamped by the -shm beside the file itself, not a stale one beside the link', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'serika-stamp-link-'));
    const link = join(dir, 'link.db');
    symlinkSync(database.url.slice('sqlite:'.length), link);
    // A header that never changes, where a stamp that did not follow the link would look.
    writeFileSync(`${link}-shm`, Buffer.concat([header(3007000, 9), header(3007000, 9), Buffer.alloc(32)]));
    const linked = openStorage(`sqlite:${link}`);
    try {
      await write(b, 'k4', 1);
      const reads = counted(new CommittedReads(linked.db), linked);
      expect(await reads.read('k4')).toBe(1);
      await change(b, 'k4', 2);
      expect(await reads.read('k4')).toBe(2);
    } finally {
      await linked.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an absent row is remembered too, until a commit writes it', async () => {
    const reads = counted(new CommittedReads(a.db), a);
    expect(await reads.read('absent')).toBeUndefined();
    expect(await reads.read('absent')).toBeUndefined();
    expect(reads.loads()).toBe(1);
    await write(b, 'absent', 7);
    expect(await reads.read('absent')).toBe(7);
  });

  it('a WAL started again (a full checkpoint, then a commit at the same frame count) is a change', async () => {
    await write(a, 'k2', 1);
    const reads = counted(new CommittedReads(a.db), a);
    expect(await reads.read('k2')).toBe(1);
    // TRUNCATE empties the WAL; the next commit starts it again from frame 1 under new salts.
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(b.db);
    await change(b, 'k2', 2);
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(b.db);
    await change(b, 'k2', 3);
    expect(await reads.read('k2')).toBe(3);
  });

  it("never remembers another caller's uncommitted write: the read waits for its transaction, and a rollback leaves the row as it was", async () => {
    await write(a, 'k3', 1);
    const reads = counted(new CommittedReads(a.db), a);
    expect(await reads.read('k3')).toBe(1);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const transaction = a.db
      .transaction()
      .execute(async (trx) => {
        await sql`update cache_invalidations set created_at = 99 where kind = 'stamp' and key = 'k3'`.execute(trx);
        entered();
        await held;
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    await inside;
    // A key not yet read: its load runs now, while the transaction is open, and must queue behind it.
    const fresh = counted(new CommittedReads(a.db), a);
    const during = fresh.read('k3');
    release();
    await transaction;
    expect(await during).toBe(1);
    expect(await fresh.read('k3')).toBe(1);
    expect(await reads.read('k3')).toBe(1);
  });
});

describe.each(DIALECTS)('CommittedReads without a stamp read every time (%s)', (dialect) => {
  it.skipIf(!dialectAvailable(dialect))('PostgreSQL and an in-memory SQLite database load at every use', async () => {
    const database = dialect === 'postgres' ? await createTestDatabase(dialect) : null;
    const storage = openStorage(database?.url ?? 'sqlite::memory:');
    try {
      await migrateToLatest(storage);
      await sql`insert into cache_invalidations (kind, key, created_at) values ('stamp', 'k', 1)`.execute(storage.db);
      const reads = counted(new CommittedReads(storage.db), storage);
      for (let i = 0; i < 3; i++) expect(await reads.read('k')).toBe(1);
      expect(reads.loads()).toBe(3);
    } finally {
      await storage.close();
      await database?.cleanup();
    }
  });
});

describe('CommitStamp: only a header it knows, and never one mid-update', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-stamp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('opens on the layout of version 3007000 and answers null while the two copies differ', () => {
    const path = join(dir, 'a.db');
    writeFileSync(`${path}-shm`, Buffer.concat([header(3007000, 5), header(3007000, 5), Buffer.alloc(32)]));
    const stamp = CommitStamp.open(path)!;
    expect(stamp).not.toBeNull();
    expect(stamp.now()?.readUInt32LE(8)).toBe(5);
    writeFileSync(`${path}-shm`, Buffer.concat([header(3007000, 5), header(3007000, 6), Buffer.alloc(32)]));
    expect(stamp.now()).toBeNull();
    stamp.close();
    expect(stamp.now()).toBeNull();
  });

  it('refuses another version, a file too short, or no -shm at all', () => {
    const path = join(dir, 'b.db');
    writeFileSync(`${path}-shm`, Buffer.concat([header(3007001, 1), header(3007001, 1)]));
    expect(CommitStamp.open(path)).toBeNull();
    expect(CommitStamp.open(join(dir, 'none.db'))).toBeNull();
  });

  it('a header not readable yet (too short, or a writer between its copies) is asked again, not given up on', () => {
    const path = join(dir, 'c.db');
    writeFileSync(`${path}-shm`, header(3007000, 1));
    expect(CommitStamp.open(path)).toBeUndefined();
    writeFileSync(`${path}-shm`, Buffer.concat([header(3007000, 1), header(3007000, 2)]));
    expect(CommitStamp.open(path)).toBeUndefined();
    writeFileSync(`${path}-shm`, Buffer.concat([header(3007000, 2), header(3007000, 2)]));
    const stamp = CommitStamp.open(path);
    expect(stamp).toBeInstanceOf(CommitStamp);
    stamp!.close();
  });
});
