import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { captureLog, seedUser, startInstance, type TestServer } from '../helpers/server.js';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** The CLI under a permissive umask, as a default shell runs it. */
const underUmask022 = ['sh', '-c', 'umask 022 && exec "$0" "$@"', process.execPath, BIN];

// SPEC §6: the database, its -wal and -shm, backups and the data directory are owner-only.
describe('files Serika writes are owner-only under a permissive umask', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-modes-'));
  let umask: number;
  beforeAll(() => {
    umask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the data directory 0700 and the database, -wal and -shm 0600 while serving', async () => {
    const path = join(dir, 'data', 'nested', 'serika.db');
    const instance = await startInstance(`sqlite:${path}`);
    try {
      await seedUser(instance as unknown as TestServer);
      expect(existsSync(`${path}-wal`)).toBe(true);
      expect(existsSync(`${path}-shm`)).toBe(true);
      expect([mode(join(dir, 'data')), mode(join(dir, 'data', 'nested'))]).toEqual(['700', '700']);
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual(['600', '600', '600']);
      const copy = join(dir, 'in-process-backup.db');
      await instance.server.storage.backup!(copy);
      expect(mode(copy)).toBe('600');
    } finally {
      await instance.close();
    }
  });

  it('writes serika backup output 0600, and a database the CLI creates 0600', async () => {
    const env = { DATABASE_URL: `sqlite:${join(dir, 'cli', 'serika.db')}` };
    const created = await runCli(['users', 'create', '--username', 'owner', '--password-stdin'], env, 'a good password\n', underUmask022);
    expect(created.code, created.stderr).toBe(0);
    expect([mode(join(dir, 'cli')), mode(join(dir, 'cli', 'serika.db'))]).toEqual(['700', '600']);
    const backup = await runCli(['backup', '--to', join(dir, 'cli', 'copy.db')], env, undefined, underUmask022);
    expect(backup.code, backup.stderr).toBe(0);
    expect(mode(join(dir, 'cli', 'copy.db'))).toBe('600');
    const copy = new SQLite(join(dir, 'cli', 'copy.db'), { readonly: true });
    try {
      expect((copy.prepare('select count(*) as n from users').get() as { n: number }).n).toBe(1);
    } finally {
      copy.close();
    }
  });

  it('tightens a database, -wal and -shm left readable by others, and says so', async () => {
    const path = join(dir, 'old.db');
    // As an older Serika left them: 0644, with a WAL still there (another connection holds it open).
    const other = new SQLite(path);
    other.pragma('journal_mode = WAL');
    other.exec('create table leftover (v text); insert into leftover values (1)');
    for (const file of [path, `${path}-wal`, `${path}-shm`]) chmodSync(file, 0o644);
    const { lines, logStream } = captureLog();
    try {
      const instance = await startInstance(`sqlite:${path}`, { LOG_LEVEL: 'warn' }, { logStream });
      await instance.close();
    } finally {
      other.close();
    }
    expect(mode(path)).toBe('600');
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.includes('owner-only'));
    expect(warning).toMatchObject({ level: 40 });
    expect(warning!.msg).toBe(`made the database files owner-only (0600), as they hold password hashes and keys: ${path} (was 0644), ${path}-wal (was 0644), ${path}-shm (was 0644)`);
  });

  it('refuses a backup into a directory that does not exist, with one line', async () => {
    const env = { DATABASE_URL: `sqlite:${join(dir, 'cli', 'serika.db')}` };
    const result = await runCli(['backup', '--to', join(dir, 'missing-directory', 'copy.db')], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^serika: cannot save the backup: the directory .*missing-directory does not exist/);
  });
});
