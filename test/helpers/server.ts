import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { parseConfig, type Config } from '../../src/config.js';
import { API_BASE } from '../../src/paths.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/server.js';
import type { Services } from '../../src/services.js';
import type { Dialect } from '../../src/storage/database.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { until } from './until.js';

export interface TestServer {
  /** Origin, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Origin + /api/openai/v1 */
  api: string;
  config: Config;
  services: Services;
  server: RunningServer;
  database: TestDatabase;
  close(): Promise<void>;
}

/**
 * Where a test server's lines go: the test's stream when it gave one; otherwise nowhere at LOG_LEVEL=silent (the
 * tests' default), whose servers still write their audit lines (audit/service.ts), so the test output stays clean.
 */
function logOptions<T extends { logStream?: DestinationStream }>(config: Config, options: T): T {
  if (options.logStream || config.logLevel !== 'silent') return options;
  return { ...options, logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) };
}

/** Another instance on an existing database (scale-out tests): same services, its own pool and port. */
export async function startInstance(databaseUrl: string, env: Record<string, string> = {}, options: { logStream?: DestinationStream } = {}) {
  const config = parseConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', ...env });
  const server = await startServer(config, logOptions(config, options));
  return { url: server.url, api: server.url + API_BASE, config: server.config, server, services: server.services, close: () => server.close() };
}

/**
 * A real server on 127.0.0.1 and a free port, over a fresh database of the given dialect; `options` may give it a
 * clock (`now`) a test moves, and a `waitUntil` that records the padded answers' moments instead of sleeping.
 */
export async function startTestServer(dialect: Dialect, env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestServer> {
  const database = await createTestDatabase(dialect);
  const config = parseConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env });
  const server = await startServer(config, logOptions(config, options));
  return {
    url: server.url,
    api: server.url + API_BASE,
    config: server.config,
    services: server.services,
    server,
    database,
    async close() {
      await server.close();
      await database.cleanup();
    },
  };
}

export interface Seeded {
  userId: string;
  username: string;
  key: string;
}

let counter = 0;

/** A user with an API key, created through the services (the CLI's path). */
export async function seedUser(ts: Pick<TestServer, 'services'>, username = `user${++counter}_${process.pid}`): Promise<Seeded> {
  const user = await ts.services.users.create({ username, password: 'correct horse battery staple' });
  const { key } = await ts.services.apiKeys.create(user.id, 'test');
  return { userId: user.id, username, key };
}

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

/** fetch with an optional bearer key and JSON body; the body is parsed when it is JSON. */
export async function call<T = any>(
  method: string,
  url: string,
  options: { key?: string; json?: unknown; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | Buffer | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  let json: any = undefined;
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') json = JSON.parse(text);
  return { status: response.status, headers: response.headers, text, json };
}

/** A log stream for a test server, and the lines written to it so far. */
export function captureLog(): { lines: string[]; logStream: Writable } {
  const lines: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logStream };
}

/**
 * One SQLite server, or, given a Redis URL, two sharing that Redis (for limits counted across
 * instances), returned once Redis answers both: until then each instance counts on its own.
 */
export async function startPair(env: Record<string, string>, redisUrl: string | null): Promise<{ a: TestServer; b: TestServer; close(): Promise<void> }> {
  const withRedis = redisUrl ? { ...env, REDIS_URL: redisUrl } : env;
  const a = await startTestServer('sqlite', withRedis);
  const b = redisUrl ? await startTestServer('sqlite', withRedis) : a;
  if (redisUrl) await until(() => [a, b].every((ts) => ts.services.redis?.status === 'ready'), { timeoutMs: 10_000, message: 'both instances to reach Redis' });
  return { a, b, close: async () => void (await Promise.all([a.close(), b !== a ? b.close() : undefined])) };
}

/** A client address to send as X-Forwarded-For behind TRUST_PROXY=1: a fresh one each time, as Redis keeps counts across runs. */
export function randomAddress(): string {
  return `198.51.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
}
