import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';
import { STREAM_USAGE, USAGE, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { postFrom } from '../helpers/loopback.js';
import { Agent, form, hiddenField, userWithSession } from '../helpers/oauth.js';
import { call, captureLog, seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { pruneOnce } from '../../src/pruner.js';
import { VERSION } from '../../src/version.js';
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

describe('metrics an operator asks for', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  const scrape = async () => (await call('GET', `${ts.url}/metrics`)).text;
  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, RATE_LIMIT_TOKEN: '0', RATE_LIMIT_LOGIN: '2' });
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  it('counts the tokens and images charged per model, as the usage rows have them, and no label for a model refused', async () => {
    const { key } = await seedUser(ts);
    const chat = (model: string, stream = false) => call('POST', `${ts.api}/chat/completions`, { key, json: { model, stream, messages: [{ role: 'user', content: 'hi' }] } });
    for (const reply of [await chat('m'), await chat('m'), await chat('m', true), await chat('no-such-model')]) expect(reply.status).toBeLessThan(500);
    expect((await call('POST', `${ts.api}/images/generations`, { key, json: { model: 'img', prompt: 'a cat', n: 2 } })).status).toBe(200);

    const text = await scrape();
    expect(sample(text, 'serika_generation_tokens_total', { model: 'm', type: 'prompt' })).toBe(2 * USAGE.prompt_tokens + STREAM_USAGE.prompt_tokens);
    expect(sample(text, 'serika_generation_tokens_total', { model: 'm', type: 'completion' })).toBe(2 * USAGE.completion_tokens + STREAM_USAGE.completion_tokens);
    expect(sample(text, 'serika_generation_images_total', { model: 'img' })).toBe(2);
    expect(text).not.toContain('model="no-such-model"');
    const rows = await ts.services.storage.db.selectFrom('usage_records').select(['model', 'prompt_tokens', 'completion_tokens', 'images']).execute();
    const sum = (model: string, column: 'prompt_tokens' | 'completion_tokens' | 'images') => rows.filter((r) => r.model === model).reduce((n, r) => n + Number(r[column]), 0);
    expect(sample(text, 'serika_generation_tokens_total', { model: 'm', type: 'prompt' })).toBe(sum('m', 'prompt_tokens'));
    expect(sample(text, 'serika_generation_tokens_total', { model: 'img', type: 'completion' })).toBe(sum('img', 'completion_tokens'));
    expect(sample(text, 'serika_generation_images_total', { model: 'img' })).toBe(sum('img', 'images'));
  });

  it('shows the streams being relayed now', async () => {
    const { key } = await seedUser(ts);
    const response = await fetch(`${ts.api}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow-stream', stream: true, messages: [] }),
    });
    const reader = response.body!.getReader();
    await reader.read(); // the first word: the stream is open
    expect(sample(await scrape(), 'serika_generation_streams_active')).toBe(1);
    while (!(await reader.read()).done);
    await until(async () => sample(await scrape(), 'serika_generation_streams_active') === 0, { timeoutMs: 5_000, intervalMs: 50, message: 'the stream to be counted closed' });
  });

  it('counts access-token cache hits and misses', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await clientWithAllScopes(ts, user, 'Cache App');
    const { access_token } = await accessTokenFor(ts, agent, client, 'profile');
    const before = await scrape();
    for (let i = 0; i < 2; i++) {
      await until(() => ts.services.invalidations.fresh, { timeoutMs: 5_000, intervalMs: 10, message: 'the invalidation feed to be fresh' });
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
    }
    const after = await scrape();
    const delta = (result: string) => sample(after, 'serika_token_cache_lookups_total', { result }) - sample(before, 'serika_token_cache_lookups_total', { result });
    expect([delta('miss'), delta('hit'), delta('bypass')]).toEqual([1, 1, 0]);
  });

  it('counts failed sign-ins by reason, one reason for unknown names and wrong passwords', async () => {
    const { username } = await seedUser(ts);
    const attempt = async (fields: Record<string, string>) => {
      const agent = new Agent(ts.url, ts.config.publicUrl);
      const page = await (await agent.fetch('/login')).text();
      return (await agent.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), ...fields } })).status;
    };
    expect(await attempt({ username, password: '' })).toBe(400);
    expect(await attempt({ username, password: 'wrong password' })).toBe(401);
    expect(await attempt({ username: 'nobody_here', password: 'wrong password' })).toBe(401);
    // RATE_LIMIT_LOGIN=2: the address has failed twice this minute.
    expect(await attempt({ username, password: 'wrong again' })).toBe(429);
    const text = await scrape();
    expect(sample(text, 'serika_login_failures_total', { reason: 'missing_credentials' })).toBe(1);
    expect(sample(text, 'serika_login_failures_total', { reason: 'bad_credentials' })).toBe(2);
    expect(sample(text, 'serika_login_failures_total', { reason: 'ip_limited' })).toBe(1);
  });

  it('says the build, the signing keys’ age, the invalidation feed’s lag and when rows were last pruned', async () => {
    let text = await scrape();
    expect(sample(text, 'serika_build_info', { version: VERSION, node: process.versions.node })).toBe(1);
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const age = sample(text, 'serika_signing_key_age_seconds', { alg });
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(600); // created when this server first started
    }
    expect(text).toMatch(/^serika_signing_key_age_seconds\{alg="RS256"\} /m);
    expect(sample(text, 'serika_invalidation_feed_lag_seconds')).toBeLessThan(1);
    expect(text).toMatch(/^serika_invalidation_feed_lag_seconds /m);
    expect(sample(text, 'serika_last_prune_timestamp_seconds')).toBe(0);

    const before = Math.floor(Date.now() / 1000);
    expect(await pruneOnce(ts.services)).not.toBeNull();
    text = await scrape();
    expect(sample(text, 'serika_last_prune_timestamp_seconds')).toBeGreaterThanOrEqual(before);
    expect(sample(text, 'serika_last_prune_timestamp_seconds')).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
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
      // What is the same in every worker is not summed: one build, keys as old as they are.
      const text = (await call('GET', `${url}/metrics`)).text;
      expect(sample(text, 'serika_build_info', { version: VERSION })).toBe(1);
      expect(sample(text, 'serika_signing_key_age_seconds', { alg: 'ES256' })).toBeLessThan(600);
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
