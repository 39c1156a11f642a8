import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';

const { threadPoolSize } = createRequire(import.meta.url)('../../bin/thread-pool.js') as {
  threadPoolSize: (env: Record<string, string | undefined>, cores: number) => string;
};

describe('libuv thread pool size', () => {
  it('is one thread per core, at least 2, unless the operator set UV_THREADPOOL_SIZE', () => {
    expect(threadPoolSize({}, 1)).toBe('2');
    expect(threadPoolSize({}, 2)).toBe('2');
    expect(threadPoolSize({}, 8)).toBe('8');
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '' }, 6)).toBe('6');
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '5' }, 2)).toBe('5');
  });

  const dir = mkdtempSync(join(tmpdir(), 'serika-pool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The threads of a started `serika serve` (libuv starts its whole pool while Node loads the first module). */
  async function threadsOf(extra: Record<string, string>, name: string): Promise<number> {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${join(dir, `${name}.db`)}`, LOG_LEVEL: 'warn', SHUTDOWN_DRAIN: '0', ...extra });
    try {
      return readdirSync(`/proc/${server.child.pid}/task`).length;
    } finally {
      await server.stop();
    }
  }

  it.runIf(process.platform === 'linux')('takes effect in `serika serve` (set before Node loads any ES module)', async () => {
    const three = await threadsOf({ UV_THREADPOOL_SIZE: '3' }, 'three');
    const five = await threadsOf({ UV_THREADPOOL_SIZE: '5' }, 'five');
    // The process's thread count follows the pool: the variable reached libuv before its pool started.
    expect(five - three).toBe(2);
    const expected = Math.max(2, availableParallelism());
    const unset = await threadsOf({ UV_THREADPOOL_SIZE: '' }, 'unset');
    const explicit = await threadsOf({ UV_THREADPOOL_SIZE: String(expected) }, 'explicit');
    expect(unset).toBe(explicit);
    expect(unset).toBe(three + expected - 3);
  });
});
