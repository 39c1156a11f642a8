import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import SQLite from 'better-sqlite3';
import { openStorage } from '../../src/storage/database.js';

const dir = mkdtempSync(join(tmpdir(), 'serika-backup-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite online backup under another writer', () => {
  // SQLite restarts a backup at its next step whenever another connection wrote in between; a step of
  // fewer pages than the file then holds never finishes while the file keeps growing (a livelock CI hit).
  it('finishes while another connection grows the file between every step of the backup', async () => {
    const path = join(dir, 'live.db');
    const storage = openStorage(`sqlite:${path}`);
    const writer = new SQLite(path);
    try {
      await sql`create table t (v blob)`.execute(storage.db);
      for (let i = 0; i < 300; i++) await sql`insert into t values (randomblob(8192))`.execute(storage.db);
      writer.pragma('busy_timeout = 5000');
      const insert = writer.prepare('insert into t values (randomblob(8192))');
      let writes = 0;
      let writing = true;
      // Two pages more before every step the backup takes (both run on setImmediate, in turn).
      const grow = (): void => {
        if (!writing) return;
        insert.run();
        writes++;
        setImmediate(grow);
      };
      setImmediate(grow);
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the backup never finished')), 10_000));
      const pages = await Promise.race([storage.backup!(join(dir, 'copy.db')), timeout]);
      writing = false;
      expect(writes).toBeGreaterThan(0);
      const copy = new SQLite(join(dir, 'copy.db'), { readonly: true });
      try {
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(copy.pragma('page_count', { simple: true })).toBe(pages);
        expect((copy.prepare('select count(*) as n from t').get() as { n: number }).n).toBeGreaterThanOrEqual(300);
      } finally {
        copy.close();
      }
    } finally {
      writer.close();
      await storage.close();
    }
  });
});
