import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer } from '../helpers/cli.js';
import { sleep, until } from '../helpers/until.js';

const PG_URL = process.env.TEST_DATABASE_URL_PG;
const REDIS_URL = process.env.TEST_REDIS_URL;
if (!PG_URL) console.warn('TEST_DATABASE_URL_PG is not set: the start checks of a reachable PostgreSQL (auth, missing database) are skipped');
if (!REDIS_URL) console.warn('TEST_REDIS_URL is not set: the start check of Redis credentials is skipped');

/** `serika serve`, with the given arguments, must stop at once with this one line on stderr and exit 1. */
async function refusesToStart(env: Record<string, string>, line: RegExp, args = ['serve']) {
  const result = await runCli(args, { PORT: '0', ...env }, undefined, undefined, 30_000);
  expect(result.timedOut).toBe(false);
  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(line);
  expect(result.stdout).not.toContain('Serika listening');
  return result;
}

/** A URL of the test server with another user or database. */
function pgUrlWith(change: (url: URL) => void): string {
  const url = new URL(PG_URL!);
  change(url);
  return url.toString();
}

describe('serika serve checks its connections before it serves', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-start-'));
  const sqlite = `sqlite:${join(dir, 'serika.db')}`;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([[['serve']], [['serve', '--workers', '2']]])('names DATABASE_URL, password masked, when nothing listens there (%j)', async (args) => {
    const result = await refusesToStart(
      { DATABASE_URL: 'postgres://serika:hunter2-secret@127.0.0.1:1/serika' },
      /^serika: cannot start: DATABASE_URL=postgres:\/\/serika:\*\*\*@127\.0\.0\.1:1\/serika: connection refused \(ECONNREFUSED 127\.0\.0\.1:1\)\n$/,
      args,
    );
    expect(result.stderr).not.toContain('hunter2');
  });

  it('names DATABASE_URL when its host does not resolve', async () => {
    await refusesToStart({ DATABASE_URL: 'postgres://serika@no-such-host.invalid/serika' }, /^serika: cannot start: DATABASE_URL=postgres:\/\/serika@no-such-host\.invalid\/serika: host not found \((ENOTFOUND|EAI_AGAIN) no-such-host\.invalid\)\n$/);
  });

  it.skipIf(!PG_URL)('names DATABASE_URL when PostgreSQL refuses the user', async () => {
    const role = `serika_nobody_${randomBytes(4).toString('hex')}`;
    const url = pgUrlWith((u) => {
      u.username = role;
      u.password = 'hunter2-secret';
    });
    const result = await refusesToStart({ DATABASE_URL: url }, new RegExp(`^serika: cannot start: DATABASE_URL=postgres://${role}:\\*\\*\\*@.*: authentication failed: (role "${role}" does not exist|password authentication failed for user "${role}"|.*pg_hba\\.conf)`));
    expect(result.stderr).not.toContain('hunter2');
  });

  it.skipIf(!PG_URL)('names DATABASE_URL when the database does not exist', async () => {
    const name = `serika_missing_${randomBytes(4).toString('hex')}`;
    await refusesToStart({ DATABASE_URL: pgUrlWith((u) => void (u.pathname = `/${name}`)) }, new RegExp(`^serika: cannot start: DATABASE_URL=.*/${name}: database missing: database "${name}" does not exist\\n$`));
  });

  it.each([[['serve']], [['serve', '--workers', '2']]])('names REDIS_URL, password masked, when nothing listens there (%j)', async (args) => {
    const result = await refusesToStart(
      { DATABASE_URL: sqlite, REDIS_URL: 'redis://:hunter2-secret@127.0.0.1:1' },
      /^serika: cannot start: REDIS_URL=redis:\/\/:\*\*\*@127\.0\.0\.1:1: connection refused \(ECONNREFUSED 127\.0\.0\.1:1\)\n$/,
      args,
    );
    expect(result.stderr).not.toContain('hunter2');
  });

  it.skipIf(!REDIS_URL)('names REDIS_URL when Redis refuses the credentials', async () => {
    const url = new URL(REDIS_URL!);
    url.username = `nobody${randomBytes(4).toString('hex')}`;
    url.password = 'hunter2-secret';
    const result = await refusesToStart({ DATABASE_URL: sqlite, REDIS_URL: url.toString() }, /^serika: cannot start: REDIS_URL=redis:\/\/nobody[0-9a-f]{8}:\*\*\*@.*: authentication failed: WRONGPASS /);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('warns once at start when no upstream is configured, and not when one is', async () => {
    const warning = 'UPSTREAM_BASE_URL is not set';
    const warnings = (output: string) => output.split('\n').filter((line) => line.includes(warning));
    for (const args of [['serve'], ['serve', '--workers', '2']]) {
      const server = await spawnServer({ DATABASE_URL: sqlite }, args);
      try {
        await until(() => warnings(server.output()).length > 0, { message: `the warning of ${args.join(' ')}` });
        // A window in which no second line (a worker's) may come.
        await sleep(300);
        const lines = warnings(server.output());
        expect(lines, args.join(' ')).toHaveLength(1);
        expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: expect.stringMatching(/answer 503/) as unknown });
      } finally {
        await server.stop();
      }
    }
    const configured = await spawnServer({ DATABASE_URL: sqlite, UPSTREAM_BASE_URL: 'http://127.0.0.1:1/v1' });
    try {
      // The window in which the warning would have come.
      await sleep(300);
      expect(configured.output()).not.toContain(warning);
    } finally {
      await configured.stop();
    }
  }, 60_000);
});
