import { describe, expect, it } from 'vitest';
import { USAGE } from '../helpers/fake-upstream.js';
import { crashBed } from '../helpers/durability.js';
import { runCli, spawnServer } from '../helpers/cli.js';
import { call } from '../helpers/server.js';

describe('usage records survive kill -9', () => {
  const { databaseUrl, upstream } = crashBed('usage');

  // Child processes (CLI runs, two servers) of a second or more each: on a loaded machine past 30 s.
  it('counts every acknowledged generation after SIGKILL and restart', async () => {
    const env = { DATABASE_URL: databaseUrl, UPSTREAM_BASE_URL: upstream().baseUrl, LOG_LEVEL: 'warn' };
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
  }, 90_000);
});
