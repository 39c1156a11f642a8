import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { runCli, spawnServer } from '../helpers/cli.js';
import { call } from '../helpers/server.js';

describe('usage records survive kill -9', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-usage-'));
  let up: FakeUpstream;
  beforeAll(async () => {
    up = await startFakeUpstream();
  });
  afterAll(async () => {
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts every acknowledged generation after SIGKILL and restart', async () => {
    const env = { DATABASE_URL: `sqlite:${join(dir, 'usage.db')}`, UPSTREAM_BASE_URL: up.baseUrl, LOG_LEVEL: 'warn' };
    await runCli(['users', 'create', '--username', 'meter', '--password-stdin'], env, 'meter password\n');
    const key = (await runCli(['keys', 'create', '--username', 'meter'], env)).stdout.trim();
    const first = await spawnServer(env);
    for (const stream of [false, true]) {
      const reply = await call('POST', `${first.url}/api/openai/v1/chat/completions`, { key, json: { model: 'test-model', messages: [], stream } });
      expect(reply.status).toBe(200);
    }
    await first.stop('SIGKILL');

    const second = await spawnServer(env);
    try {
      const usage = await call('GET', `${second.url}/api/openai/v1/usage`, { key });
      expect(usage.json.data).toEqual([
        {
          date: new Date().toISOString().slice(0, 10),
          clientId: null,
          clientName: null,
          promptTokens: USAGE.prompt_tokens + 5,
          completionTokens: USAGE.completion_tokens + 3,
          images: 0,
          requests: 2,
        },
      ]);
    } finally {
      await second.stop();
    }
  });
});
