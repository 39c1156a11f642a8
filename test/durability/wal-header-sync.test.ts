import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, childEnv } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'serika-walsync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** strace counts the syscalls; where it is missing (or may not trace), the test says so and is skipped. */
const strace = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', process.execPath, '-e', '0'], { stdio: 'ignore' }).status === 0;

const MARK = 'serika-wal-window';
const RESTARTS = 4;

/**
 * The built storage layer (`npm test` builds first), as a server opens it: commits spaced so that the checkpoint
 * thread catches up between them, so each one starts the WAL again (its header's checkpoint sequence counts them).
 * The restarts happen between two marker writes on the main thread, and the process prints its pid and the count.
 */
const CHILD = `
import { openStorage } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/storage/database.js')).href)};
import { closeSync, openSync, readSync } from 'node:fs';
const path = process.argv[2];
const sequence = () => {
  const header = Buffer.alloc(16);
  const fd = openSync(path + '-wal', 'r');
  readSync(fd, header, 0, 16, 0);
  closeSync(fd);
  return header.readUInt32BE(12);
};
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const storage = openStorage('sqlite:' + path);
await storage.db.schema.createTable('t').addColumn('v', 'blob').execute();
process.stderr.write('${MARK} begin\\n');
const first = sequence();
for (let i = 0; i < 1000 && sequence() < first + ${RESTARTS}; i++) {
  await pause(40);
  await storage.db.insertInto('t').values({ v: Buffer.alloc(100, i) }).execute();
}
const restarts = sequence() - first;
process.stderr.write('${MARK} end\\n');
await storage.close();
process.stdout.write(JSON.stringify({ pid: process.pid, restarts }));
`;

function traced(trace: string, database: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // A file, not \`node --input-type=module -e\`: a worker inherits execArgv, and the checkpoint thread's source is CommonJS.
  const script = join(dir, 'restarts.mjs');
  writeFileSync(script, CHILD);
  return new Promise((resolve, reject) => {
    const child = spawn(
      'strace',
      ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,write', '-o', trace, process.execPath, script, database],
      { env: childEnv({}), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('SQLite: a restarted WAL header is synced by the commit that restarts it (SPEC §6)', () => {
  it('the serving thread syncs the WAL at least once per restart while the checkpoint thread runs', { timeout: 120_000 }, async (context) => {
    context.skip(!strace, 'strace is not installed or may not trace here: the fsync count is not checked (wal-checkpointer.test.ts checks the setting)');
    const trace = join(dir, 'trace.txt');
    const result = await traced(trace, join(dir, 'restarts.db'));
    expect(result.code, result.stderr).toBe(0);
    const { pid, restarts } = JSON.parse(result.stdout) as { pid: number; restarts: number };
    expect(restarts).toBe(RESTARTS);
    // strace -f prefixes every line with the thread's id; the main (serving) thread's is the process id.
    const lines = readFileSync(trace, 'utf8').split('\n');
    const begin = lines.findIndex((l) => l.includes(`${MARK} begin`));
    const end = lines.findIndex((l) => l.includes(`${MARK} end`));
    expect(begin).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(begin);
    const window = lines.slice(begin + 1, end);
    const walSyncs = (own: boolean) => window.filter((l) => (l.startsWith(`${pid} `) === own) && /\b(fsync|fdatasync)\(\d+<[^>]*-wal>\)/.test(l)).length;
    // synchronous=NORMAL: one sync of the new header per restart, on the thread that commits; with OFF, none.
    expect(walSyncs(true)).toBeGreaterThanOrEqual(restarts);
    // The checkpoint thread syncs the WAL too, before it copies frames into the database file.
    expect(walSyncs(false)).toBeGreaterThan(0);
  });
});
