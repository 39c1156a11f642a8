import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs SQLite's WAL checkpoints on a thread of their own. With automatic
 * checkpoints, the commit that crosses 1,000 WAL pages copies them all into the
 * database file while the event loop waits (bench/NOTES.md). Here the serving
 * connection never checkpoints; a second connection on a worker thread runs a
 * PASSIVE checkpoint (it never blocks readers or writers, sqlite.org/wal.html §3)
 * every few milliseconds. If the thread cannot start or fails, the serving
 * connection checkpoints by itself again (`fallback`), so the WAL never grows
 * without bound.
 *
 * Only a writer restarts the WAL from its start, and only when its transaction
 * began with every frame already copied (sqlite.org/wal.html §5, "checkpoint
 * starvation"). Under steady writes a checkpoint on another thread never
 * catches up — commits land while it copies — so the WAL grows for as long as
 * the load lasts (bench/NOTES.md). So when the
 * WAL passes `restartFrames` (64 MiB of 4 KiB pages by default), the
 * worker says so, and the serving side holds its writers back (`onBehind`:
 * no transaction starts; the event loop runs on) while one more checkpoint
 * copies the last frames; the next commit then starts the WAL again.
 */
export interface Checkpointer {
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  everyMs?: number;
  /** The WAL's length, in frames (pages), past which the writers are held back for a full copy. */
  restartFrames?: number;
  /** Runs `catchUp` (a last checkpoint) while no writer can commit; resolves when it is done. */
  onBehind?: (catchUp: () => Promise<void>) => Promise<void>;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driver);
const db = new SQLite(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
// Every checkpoint syncs the WAL before copying it and the database file after, as NORMAL does (SPEC §6).
db.pragma('synchronous = NORMAL');
let behind = false;
const checkpoint = () => {
  try {
    return db.pragma('wal_checkpoint(PASSIVE)')[0];
  } catch (error) {
    // SQLITE_BUSY: another connection is checkpointing; the next tick tries again.
    if (error && error.code !== 'SQLITE_BUSY' && error.code !== 'SQLITE_LOCKED') throw error;
    return undefined;
  }
};
const timer = setInterval(() => {
  const result = checkpoint();
  if (!behind && result && result.log >= workerData.restartFrames) {
    behind = true;
    parentPort.postMessage('behind');
  }
}, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message === 'catch-up') {
    checkpoint();
    behind = false;
    parentPort.postMessage('caught-up');
    return;
  }
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(path: string, fallback: () => void, options: CheckpointerOptions = {}): Checkpointer {
  const { everyMs = 20, restartFrames = 16_384, onBehind } = options;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, everyMs, restartFrames: onBehind ? restartFrames : Infinity } });
  let caughtUp: (() => void) | null = null;
  /** Ends a pending catch-up: answered, or one the worker will not answer any more (it failed, or it is stopping). */
  const release = () => {
    caughtUp?.();
    caughtUp = null;
  };
  const catchUp = () =>
    new Promise<void>((resolve) => {
      caughtUp = resolve;
      worker.postMessage('catch-up');
    });
  worker.on('message', (message) => {
    if (message === 'behind' && onBehind && !stopping) void onBehind(catchUp).catch(() => undefined);
    if (message === 'caught-up') release();
  });
  // Never what keeps a process alive (a CLI command ends when its work does).
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const failed = () => {
    release(); // the writers are never left held back
    if (!stopping) fallback();
  };
  worker.once('error', failed);
  worker.once('exit', failed);
  return {
    async stop() {
      if (stopping) return exited;
      stopping = true;
      release();
      // Awaited, so it must keep the process alive until it has closed its connection.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
