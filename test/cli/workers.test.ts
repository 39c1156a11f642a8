import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';
import { call } from '../helpers/server.js';

describe('serika serve --workers N', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-workers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves from two processes on one port, announces once, and stops cleanly on SIGTERM', async () => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${join(dir, 'w.db')}`, LOG_LEVEL: 'info' }, ['serve', '--workers', '2']);
    try {
      const replies = await Promise.all(Array.from({ length: 20 }, () => call('GET', `${server.url}/readyz`)));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      const pids = new Set(
        server
          .output()
          .split('\n')
          .filter((l) => l.includes('"Server listening'))
          .map((l) => JSON.parse(l).pid),
      );
      expect(pids.size).toBe(2);
      expect(server.output().match(/^Serika listening on /gm)).toHaveLength(1);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
  });
});
