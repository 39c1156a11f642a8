import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer } from '../helpers/cli.js';
import { call } from '../helpers/server.js';
import { until } from '../helpers/until.js';

describe('serika backup (SQLite online backup API)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-backup-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'live.db')}` };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes a consistent copy while a server writes, and the restored copy holds every row acknowledged before it began', async () => {
    await runCli(['users', 'create', '--username', 'writer', '--password-stdin'], env, 'a good password\n');
    const key = (await runCli(['keys', 'create', '--username', 'writer'], env)).stdout.trim();
    const server = await spawnServer(env);
    const url = server.url.replace('localhost', '127.0.0.1');
    const acknowledged: string[] = [];
    let writing = true;
    const writers = Array.from({ length: 4 }, async () => {
      while (writing) {
        const reply = await call('POST', `${url}/api/openai/v1/characters`, { key, json: { name: `c${acknowledged.length}`, description: 'x'.repeat(500) } });
        if (reply.status === 201) acknowledged.push(reply.json.id);
      }
    });
    try {
      await until(() => acknowledged.length >= 100, { timeoutMs: 20_000, message: '100 acknowledged writes' });
      const before = [...acknowledged];
      const backup = await runCli(['backup', '--to', join(dir, 'copy.db')], env);
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.stdout).toMatch(/^Backed up \d+ pages to /);
      expect(acknowledged.length).toBeGreaterThan(before.length); // the server kept writing meanwhile

      const again = await runCli(['backup', '--to', join(dir, 'copy.db')], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already exists');

      writing = false;
      await Promise.all(writers);
      // Restore: serve the copy, and find every row acknowledged before the backup began.
      const restoredEnv = { DATABASE_URL: `sqlite:${join(dir, 'copy.db')}` };
      const { openStorage } = await import('../../src/storage/database.js');
      const storage = openStorage(restoredEnv.DATABASE_URL);
      try {
        const integrity = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(storage.db);
        expect(integrity.rows[0]!.integrity_check).toBe('ok');
        const ids = new Set((await storage.db.selectFrom('characters').select('id').execute()).map((r) => r.id));
        for (const id of before) expect(ids.has(id), id).toBe(true);
      } finally {
        await storage.close();
      }
      const restored = await spawnServer(restoredEnv);
      try {
        const list = await call('GET', `${restored.url.replace('localhost', '127.0.0.1')}/api/openai/v1/characters?limit=1`, { key });
        expect(list.status).toBe(200);
        expect(list.json.first_id).toBe(before[0]);
      } finally {
        await restored.stop();
      }
    } finally {
      writing = false;
      await server.stop();
    }
  });

  it('points PostgreSQL users to pg_dump', async () => {
    const result = await runCli(['backup', '--to', join(dir, 'pg.db')], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('pg_dump');
  });
});
