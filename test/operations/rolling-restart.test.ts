import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_BASE } from '../../src/paths.js';
import { freePort } from '../../src/server.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/cli.js';
import { createTestDatabase, PG_URL, type TestDatabase } from '../helpers/databases.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { nginxInstalled, PUBLIC_HOST, startDocumentedNginx, viaProxy, type Nginx } from '../helpers/nginx.js';
import { call } from '../helpers/server.js';
import { sleep, until } from '../helpers/until.js';

/** What the load saw: answers by status, and requests that got no answer at all. */
interface Outcomes {
  statuses: Map<number, number>;
  /** 5xx answers, with what was asked and what came back. */
  failures: string[];
  /** Requests that failed below HTTP (refused, reset). */
  errors: string[];
}

/** One kind of request the load sends, and what counts as its success besides a status below 500. */
interface Kind {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  complete?: (text: string) => boolean;
}

/**
 * A steady load through nginx, as apps send it over keep-alive connections, `perSecond` requests a second
 * whatever the answers take (the machine is shared: a modest rate): list reads (GET) and character creations
 * (POST: a write nginx may not retry once sent) in turn, and every tenth a streamed chat completion of
 * 2.4 s, so requests are in flight whenever an instance stops.
 */
function steadyLoad(port: number, key: string, perSecond: number): { stop(): Promise<Outcomes> } {
  const pool = new Pool(`https://127.0.0.1:${port}`, { connections: 32, connect: { rejectUnauthorized: false, servername: PUBLIC_HOST } });
  const outcomes: Outcomes = { statuses: new Map(), failures: [], errors: [] };
  const pending = new Set<Promise<void>>();
  let sent = 0;
  const kind = (n: number): Kind => {
    if (n % 10 === 9) {
      const body = JSON.stringify({ model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'count' }] });
      return { method: 'POST', path: `${API_BASE}/chat/completions`, body, complete: (text) => text.includes(' eight') && text.includes('data: [DONE]') };
    }
    if (n % 2 === 1) return { method: 'POST', path: `${API_BASE}/characters`, body: JSON.stringify({ name: `Restart ${n}` }) };
    return { method: 'GET', path: `${API_BASE}/characters?limit=1` };
  };
  const send = () => {
    const { method, path, body, complete } = kind(sent++);
    const request = pool
      .request({ method, path, body, headers: { host: PUBLIC_HOST, authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) } })
      .then(async (response) => {
        const text = await response.body.text();
        outcomes.statuses.set(response.statusCode, (outcomes.statuses.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode >= 500 || (complete && !complete(text))) outcomes.failures.push(`${method} ${path}: ${response.statusCode} ${text.slice(-200)}`);
      })
      .catch((error: unknown) => void outcomes.errors.push(`${method} ${path}: ${String(error)}`))
      .finally(() => pending.delete(request));
    pending.add(request);
  };
  const timer = setInterval(send, 1000 / perSecond);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      await pool.close();
      return outcomes;
    },
  };
}

const answered = (outcomes: Outcomes, status: number) => outcomes.statuses.get(status) ?? 0;

describe.skipIf(!nginxInstalled)('a rolling restart behind nginx, configured as docs/deploying.md shows', () => {
  let database: TestDatabase;
  let nginx: Nginx;
  let key: string;
  let env: Record<string, string>;
  let upstream: FakeUpstream;
  const ports: number[] = [];
  const instances: ServerProcess[] = [];

  /** Starts instance i on its own fixed port (nginx names it) and waits until it is ready. */
  const start = async (i: number): Promise<ServerProcess> => {
    const server = await spawnServer({ ...env, PORT: String(ports[i]) });
    await until(async () => (await call('GET', `http://127.0.0.1:${ports[i]}/readyz`).catch(() => null))?.status === 200, {
      timeoutMs: 15_000,
      message: `instance ${i} to be ready`,
    });
    return server;
  };

  beforeAll(async () => {
    // One database both instances share, as in production: PostgreSQL when the run has one.
    database = await createTestDatabase(PG_URL ? 'postgres' : 'sqlite');
    upstream = await startFakeUpstream();
    env = {
      UPSTREAM_BASE_URL: upstream.baseUrl,
      DATABASE_URL: database.url,
      PUBLIC_URL: `https://${PUBLIC_HOST}`,
      TRUST_PROXY: '127.0.0.1',
      // The documented default drain: longer than nginx's fail_timeout, which the documented restart relies on.
      SHUTDOWN_DRAIN: '5',
      LOG_LEVEL: 'warn',
    };
    await runCli(['users', 'create', '--username', 'restarter', '--password-stdin'], env, 'a good password\n');
    key = (await runCli(['keys', 'create', '--username', 'restarter'], env)).stdout.trim();
    for (let i = 0; i < 2; i++) {
      ports.push(await freePort('127.0.0.1'));
      instances.push(await start(i));
    }
    nginx = await startDocumentedNginx([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
  }, 120_000);
  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(instances.map((instance) => instance.stop('SIGKILL')));
    await upstream?.close();
    await database?.cleanup();
  });

  it('keeps /metrics off the public side while each instance still serves it', async () => {
    const proxied = await viaProxy(nginx.port, '/metrics', { localAddress: '127.0.0.1' });
    expect(proxied.status).toBe(404);
    expect(proxied.text).not.toContain('serika_http_requests_total');
    for (const port of ports) {
      const direct = await call('GET', `http://127.0.0.1:${port}/metrics`);
      expect(direct.status).toBe(200);
      expect(direct.text).toContain('serika_http_requests_total');
    }
  });

  it('restarts each instance in turn under GET and POST load with no 5xx and no failed request', async () => {
    const load = steadyLoad(nginx.port, key, 80);
    // Keep-alive connections to both instances are open and in use before the first SIGTERM.
    await sleep(1500);
    const stops: number[] = [];
    // As docs/deploying.md says to restart: one at a time, the next once the one before is ready again.
    for (let i = 0; i < 2; i++) {
      const began = Date.now();
      instances[i]!.child.kill('SIGTERM');
      expect(await instances[i]!.exited).toBe(0);
      stops.push(Date.now() - began);
      instances[i] = await start(i);
    }
    await sleep(1500);
    const outcomes = await load.stop();

    // What nginx saw (errors, instances it took out), should anything have failed.
    const nginxLines = nginx.errorLog().split('\n');
    const noLive = nginxLines.filter((line) => line.includes('no live upstreams')).length;
    const report = [
      `failures: ${outcomes.failures.slice(0, 10).join('\n')}`,
      `errors: ${outcomes.errors.slice(0, 10).join('\n')}`,
      `nginx ("no live upstreams" ${noLive} times):`,
      ...nginxLines.filter((line) => /\[(error|warn)\]/.test(line) && !line.includes('no live upstreams')).slice(0, 20),
    ].join('\n');
    expect(outcomes.failures, report).toEqual([]);
    expect(outcomes.errors, report).toEqual([]);
    // The load ran the whole time, reads and writes alike.
    expect(answered(outcomes, 200)).toBeGreaterThan(400);
    expect(answered(outcomes, 201)).toBeGreaterThan(400);
    expect([...outcomes.statuses.keys()].sort((x, y) => x - y)).toEqual([200, 201]);
    // Under load a stop takes the drain, the slowest request (a 2.4 s stream) and the second its connection may then
    // stay idle (http/drain.ts), not the drain plus SHUTDOWN_TIMEOUT (30 s); 3 s for a busy machine's process exit.
    for (const ms of stops) expect(ms).toBeLessThan(5000 + 2400 + 1000 + 3000);
    // Two stops and starts of a spawned server: a busy CI machine takes a minute or more.
  }, 120_000);
});
