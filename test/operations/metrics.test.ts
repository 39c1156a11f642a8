import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { postFrom } from '../helpers/loopback.js';
import { form, userWithSession } from '../helpers/oauth.js';
import { call, captureLog, startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';
import { until } from '../helpers/until.js';

/** The value of one sample line, `name{labels} value`, or 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries((match[2] ?? '').split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string]).map(([k, v]) => [k, v.replace(/"/g, '')]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[3]);
  }
  return 0;
}

describe('metrics of what the domains do', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, RATE_LIMIT_TOKEN: '2' });
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  it('counts tokens issued and revoked by reason, 429s by limiter, and upstream calls by status', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await clientWithAllScopes(ts, user);
    const tokens = await accessTokenFor(ts, agent, client, 'generations');
    await call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${tokens.access_token}` }, json: { model: 'm', messages: [] } });
    await postFrom('127.0.3.1', `${ts.api}/oauth/revoke`, form({ token: tokens.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! }));
    for (let i = 0; i < 3; i++) await postFrom('127.0.3.2', `${ts.api}/oauth/token`, 'grant_type=refresh_token&refresh_token=x&client_id=client_nope');

    const text = (await call('GET', `${ts.url}/metrics`)).text;
    expect(sample(text, 'serika_tokens_issued_total', { grant: 'authorization_code' })).toBe(1);
    expect(sample(text, 'serika_tokens_revoked_total', { reason: 'revocation' })).toBe(2);
    expect(sample(text, 'serika_rate_limited_total', { limiter: 'ip' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'serika_upstream_request_duration_seconds_count', { endpoint: 'chat.completions', status: '200' })).toBe(1);
    expect(text).not.toContain('serika_redis_up');
    expect(text).not.toContain('serika_db_pool_connections'); // SQLite has no pool
  });
});

describe('metrics with --workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-metrics-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sums every worker on every scrape, so counters never go back whichever worker answers', async () => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${join(dir, 'm.db')}` }, ['serve', '--workers', '2']);
    try {
      const url = server.url.replace('localhost', '127.0.0.1');
      for (let i = 0; i < 20; i++) await fetch(`${url}/.well-known/oauth-authorization-server`);
      const seen: number[] = [];
      for (let i = 0; i < 6; i++) {
        const text = (await call('GET', `${url}/metrics`)).text;
        seen.push(sample(text, 'serika_http_requests_total', { route: '/.well-known/oauth-authorization-server', status: '200' }));
      }
      // Without summing, scrapes alternate between one worker's ~10 and the other's.
      expect(seen.every((n) => n === 20)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it.skipIf(!process.env.TEST_REDIS_URL)('serika_redis_up is 1, not the number of workers, while every worker reaches Redis', async () => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${join(dir, 'r.db')}`, REDIS_URL: process.env.TEST_REDIS_URL! }, ['serve', '--workers', '2']);
    try {
      const url = server.url.replace('localhost', '127.0.0.1');
      // Both workers connected: /readyz reports Redis from whichever answers.
      await until(
        async () => {
          const replies = await Promise.all([1, 2, 3, 4].map(() => call('GET', `${url}/readyz`)));
          return replies.every((r) => r.json?.redis === 'ok');
        },
        { timeoutMs: 10_000, intervalMs: 100, message: '/readyz to report Redis ok from both workers' },
      );
      for (let i = 0; i < 4; i++) expect(sample((await call('GET', `${url}/metrics`)).text, 'serika_redis_up')).toBe(1);
    } finally {
      await server.stop();
    }
  });
});

describe('a REDIS_URL that does not answer', () => {
  let ts: TestServer;
  const log = captureLog();
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'warn' }, { logStream: log.logStream });
  });
  afterAll(async () => ts?.close());

  it('is reported at start (a warning; it keeps serving), in /readyz (still 200) and in the metrics', async () => {
    await until(() => log.lines.join('').includes('REDIS_URL is set but Redis does not answer'), { timeoutMs: 15_000, intervalMs: 50, message: 'the start-up warning that Redis does not answer' });
    const ready = await call('GET', `${ts.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ok', database: 'ok', redis: 'down' });
    expect(sample((await call('GET', `${ts.url}/metrics`)).text, 'serika_redis_up')).toBe(0);
  });
});
