import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { API_BASE } from '../../src/paths.js';
import { openStorage } from '../../src/storage/database.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { call } from '../helpers/server.js';
import { until } from '../helpers/until.js';

const logLines = (server: ServerProcess) =>
  server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; phase?: string; time: string });

/**
 * For a describe block: a fake upstream, and a user with an API key in a database of its own, with the given
 * shutdown settings; `env` and `key` are set when the block's tests run.
 */
function streamer(shutdown: Record<string, string>): { env: Record<string, string>; key: string } {
  const fixture: { env: Record<string, string>; key: string } = { env: {}, key: '' };
  let dir: string | undefined;
  let up: FakeUpstream | undefined;
  // Made when the block runs, not when it is collected: a block a filter skips leaves nothing behind.
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'serika-shutdown-'));
    up = await startFakeUpstream();
    fixture.env = { DATABASE_URL: `sqlite:${join(dir, 'shutdown.db')}`, ...shutdown, UPSTREAM_BASE_URL: up.baseUrl };
    await runCli(['users', 'create', '--username', 'streamer', '--password-stdin'], fixture.env, 'a good password\n');
    fixture.key = (await runCli(['keys', 'create', '--username', 'streamer'], fixture.env)).stdout.trim();
  });
  afterAll(async () => {
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

describe.each([[['serve']], [['serve', '--workers', '2']]])('graceful shutdown on SIGTERM (%j)', (args) => {
  const fixture = streamer({ SHUTDOWN_DRAIN: '1', SHUTDOWN_TIMEOUT: '1.5' });

  it('answers /readyz 503 at once, serves through the drain, ends a longer stream with an error event, charges it, exits 0', async () => {
    const server = await spawnServer(fixture.env, args);
    const url = server.url.replace('localhost', '127.0.0.1');
    expect((await call('GET', `${url}/readyz`)).json).toMatchObject({ status: 'ok', redis: 'off' });

    // A stream of 150 chunks, 200 ms apart (30 s), far longer than drain + timeout.
    const body = { model: 'endless-stream', stream: true, messages: [{ role: 'user', content: 'go on' }] };
    const response = await fetch(`${url}/api/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fixture.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let streamed = '';
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        streamed += Buffer.from(value).toString('utf8');
      }
    })();
    await until(() => streamed.includes('data:'), { timeoutMs: 10_000, message: 'the first streamed chunk' });

    const started = Date.now();
    server.child.kill('SIGTERM');
    const ready = await until(
      async () => {
        const reply = await call('GET', `${url}/readyz`);
        return reply.status === 503 && reply;
      },
      { timeoutMs: 10_000, message: '/readyz to answer 503 once SIGTERM is handled' },
    );
    expect(ready.json.status).toBe('draining');
    // Still serving during the drain.
    expect((await call('GET', `${url}/healthz`)).status).toBe(200);

    await reading;
    const code = await server.exited;
    const elapsed = Date.now() - started;
    expect(code).toBe(0);
    expect(elapsed).toBeGreaterThan(2000); // drain 1 s + timeout 1.5 s
    expect(elapsed).toBeLessThan(10_000);
    expect(streamed).toContain('word3');
    expect(streamed).toMatch(/data: \{"error":\{"message":"Serika is shutting down and ended this stream; retry the request\."/);

    const phases = logLines(server).map((l) => l.phase).filter(Boolean);
    expect(phases).toEqual(expect.arrayContaining(['drain', 'close', 'end', 'done']));
    for (const line of logLines(server)) expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    // The cut stream left its usage row, charged (SPEC §10). An API-key call has no reservation: the estimate is the
    // prompt estimate of its body plus the completion text it was sent, UTF-8 bytes ÷ 2 rounded up.
    const delivered = streamed
      .split('\n\n')
      .map((event) => event.replace(/^data: /, ''))
      .filter((data) => data.startsWith('{"id"'))
      .map((data) => (JSON.parse(data) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    expect(delivered).toMatch(/^ word0 word1 word2 word3/);
    const storage = openStorage(parseConfig(fixture.env).databaseUrl);
    try {
      const rows = await storage.db.selectFrom('usage_records').select(['status', 'model', 'prompt_tokens', 'completion_tokens']).where('model', '=', 'endless-stream').execute();
      expect(rows.at(-1)).toEqual({
        status: 503,
        model: 'endless-stream',
        prompt_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 2),
        completion_tokens: Math.ceil(Buffer.byteLength(delivered) / 2),
      });
    } finally {
      await storage.close();
    }
    // Spawned servers (three processes with --workers 2): a busy CI machine takes far longer than the default.
  }, 90_000);
});

describe('SIGTERM under keep-alive load', () => {
  // A drain long enough that the requests below fall before its last (keep-alive) quarter, whatever the load.
  const fixture = streamer({ SHUTDOWN_DRAIN: '3', SHUTDOWN_TIMEOUT: '20' });

  it('says Connection: close while draining, answers every request, and exits once nothing is in flight, not after SHUTDOWN_TIMEOUT', async () => {
    const server = await spawnServer(fixture.env);
    const pool = new Pool(server.url.replace('localhost', '127.0.0.1'), { connections: 4 });
    const get = async (path: string) => {
      const response = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${fixture.key}` } });
      await response.body.text();
      return { status: response.statusCode, connection: response.headers.connection };
    };
    try {
      expect(await get('/readyz')).toEqual({ status: 200, connection: 'keep-alive' });
      // A 2.4 s stream whose head says keep-alive before the stop, and that ends after the drain: its
      // connection, idle then, must not hold the stop until SHUTDOWN_TIMEOUT (the client keeps it open).
      const stream = await pool.request({
        method: 'POST',
        path: `${API_BASE}/chat/completions`,
        headers: { authorization: `Bearer ${fixture.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'count' }] }),
      });
      expect(stream.headers.connection).toBe('keep-alive');
      const streamed = stream.body.text();

      const started = Date.now();
      server.child.kill('SIGTERM');
      await until(async () => (await get('/readyz')).status === 503, { timeoutMs: 5000, message: '/readyz to answer 503' });
      // Draining: every answer closes its connection, so no client (or proxy) sends on one being closed.
      const during = [];
      for (let i = 0; i < 5; i++) during.push(await get(`${API_BASE}/characters`));
      expect(during).toEqual(Array.from({ length: 5 }, () => ({ status: 200, connection: 'close' })));

      expect(await streamed).toContain('data: [DONE]');
      expect(await server.exited).toBe(0);
      // Drain (3 s; the stream ended 2.4 s after it began, within it) and a short idle wait; not 3 + 20 s.
      expect(Date.now() - started).toBeLessThan(8000);
      expect(logLines(server).map((l) => l.phase)).not.toContain('end');
    } finally {
      await pool.close();
      await server.stop('SIGKILL');
    }
  });
});
