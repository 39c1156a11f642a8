import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { walSequence } from '../helpers/wal.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import SQLite from 'better-sqlite3';
import { checkpointsItself, leavesCheckpointsToThread, openStorage, type Storage } from '../../src/storage/database.js';
import { startCheckpointer } from '../../src/storage/wal-checkpointer.js';
import { until } from '../helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'serika-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** SQLite's WAL is copied into the database file by a thread of its own, never by a serving commit. */
describe('WAL checkpoints off the event loop (SQLite)', () => {
  it('the serving connection never checkpoints; the worker copies the WAL into the database file; closing leaves no WAL', async () => {
    const path = join(dir, 'a.db');
    const storage = openStorage(`sqlite:${path}`);
    const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(storage.db);
    expect(rows[0]?.wal_autocheckpoint).toBe(0);
    await sql`create table t (v blob)`.execute(storage.db);
    const before = statSync(path).size;
    // About 4 MB through the WAL: only a checkpoint moves it into the database file.
    for (let i = 0; i < 64; i++) await sql`insert into t values (randomblob(65536))`.execute(storage.db);
    await until(() => statSync(path).size > before + 3_000_000, { intervalMs: 10, message: 'the checkpoint thread to copy the WAL into the database file' });
    await storage.close();
    // The worker's connection is closed too: the last connection out checkpoints and removes the WAL.
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('under steady writes the WAL starts again past its bound instead of growing with the load (checkpoint starvation)', async () => {
    const path = join(dir, 'c.db');
    const storage = openStorage(`sqlite:${path}`, { walRestartFrames: 1024 });
    await sql`create table t (k blob primary key, v blob)`.execute(storage.db);
    // About 100 MB through the WAL, one commit after another, as a busy server writes (its event loop turning between them).
    for (let i = 0; i < 4000; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      await storage.db.transaction().execute((trx) => sql`insert into t values (randomblob(16), randomblob(16000))`.execute(trx));
    }
    // The WAL file keeps the largest size it reached: the bound (1,024 frames, about 4 MB) and what this loop writes
    // before the worker notices (its next checkpoint, up to 20 ms on): 17–23 MB here, whatever the length of the load,
    // and 40.5 MB once in a clean-clone CI run whose other test files kept both cores busy (the worker noticed later).
    // Without the restart it reached 74 MB after 60 MB of writes, and grows with them: past 100 MB for this loop.
    expect(statSync(`${path}-wal`).size).toBeLessThan(64_000_000);
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(storage.db)).rows[0]?.n).toBe(4000);
    await storage.close();
  });

  it('the serving connection keeps synchronous=NORMAL beside the checkpoint thread and through WAL restarts (SPEC §6: each restart syncs the header)', async () => {
    const synchronous = async (storage: Storage) => (await sql<{ synchronous: number }>`pragma synchronous`.execute(storage.db)).rows[0]?.synchronous;
    const path = join(dir, 'd.db');
    const served = openStorage(`sqlite:${path}`);
    // NORMAL (1): the commit that starts the WAL again syncs its new header before any frame follows it (sqlite.org/src/info/ff5be73dee).
    expect(await synchronous(served)).toBe(1);
    await sql`create table t (v blob)`.execute(served.db);
    // Each commit made after the thread's checkpoint caught up starts the WAL again, which counts up the header's checkpoint sequence.
    const first = walSequence(path);
    // Each poll commits once more until three checkpoints have restarted the WAL.
    await until(
      async () => {
        if (walSequence(path) >= first + 3) return true;
        await sql`insert into t values (randomblob(100))`.execute(served.db);
        return false;
      },
      { timeoutMs: 20_000, intervalMs: 30, message: 'three WAL restarts (checkpoint sequence +3)' },
    );
    expect(await synchronous(served)).toBe(1);
    await served.close();
    // In memory there is no checkpoint thread: the same setting.
    const memory = openStorage('sqlite::memory:');
    expect(await synchronous(memory)).toBe(1);
    await memory.close();
    // The fallback when the thread fails: the serving connection checkpoints again; its syncs never change.
    const connection = new SQLite(join(dir, 'e.db'));
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    leavesCheckpointsToThread(connection);
    expect([connection.pragma('synchronous', { simple: true }), connection.pragma('wal_autocheckpoint', { simple: true })]).toEqual([1, 0]);
    checkpointsItself(connection);
    expect([connection.pragma('synchronous', { simple: true }), connection.pragma('wal_autocheckpoint', { simple: true })]).toEqual([1, 1000]);
    connection.close();
  });

  it('a checkpointer that cannot run hands checkpoints back to the serving connection', async () => {
    let fellBack = 0;
    const checkpointer = startCheckpointer(join(dir, 'missing', 'nothing.db'), () => fellBack++);
    await until(() => fellBack > 0, { intervalMs: 10, message: 'the failed checkpointer to fall back' });
    await checkpointer.stop();
    expect(fellBack).toBeGreaterThan(0);
  });

  it('a stopped checkpointer does not fall back', async () => {
    const path = join(dir, 'b.db');
    const storage = openStorage(`sqlite:${path}`);
    await sql`select 1`.execute(storage.db);
    let fellBack = 0;
    const checkpointer = startCheckpointer(path, () => fellBack++);
    await checkpointer.stop();
    await checkpointer.stop();
    expect(fellBack).toBe(0);
    await storage.close();
  });
});
