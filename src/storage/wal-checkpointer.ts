import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs SQLite's WAL checkpoints on a thread of their own. With automatic
 * checkpoints, the commit that crosses 1,000 WAL pages copies them all into the
 * database file while the event loop waits (profiled: commit was a third of a
 * budgeted chat call's SQLite time, and the cause of its p99). Here the serving
 * connection never checkpoints; a second connection on a worker thread runs a
 * PASSIVE checkpoint (it never blocks readers or writers, sqlite.org/wal.html §3)
 * every few milliseconds. If the thread cannot start or fails, the serving
 * connection checkpoints by itself again (`fallback`), so the WAL never grows
 * without bound.
 */
export interface Checkpointer {
  stop(): Promise<void>;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driver);
const db = new SQLite(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    // SQLITE_BUSY: another connection is checkpointing; the next tick tries again.
    if (error && error.code !== 'SQLITE_BUSY' && error.code !== 'SQLITE_LOCKED') throw error;
  }
}, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(path: string, fallback: () => void, everyMs = 20): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, everyMs } });
  // Never what keeps a process alive (a CLI command ends when its work does).
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const failed = () => {
    if (!stopping) fallback();
  };
  worker.once('error', failed);
  worker.once('exit', failed);
  return {
    async stop() {
      if (stopping) return exited;
      stopping = true;
      // Awaited, so it must keep the process alive until it has closed its connection.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
