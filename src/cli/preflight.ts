import { Redis } from 'ioredis';
import { maskCredentials, type Config } from '../config.js';
import { openStorage } from '../storage/database.js';
import { describeError } from './context.js';

/**
 * Before `serika serve` listens: PostgreSQL (DATABASE_URL) and Redis
 * (REDIS_URL, when set) must answer now. A wrong host, password or database
 * name is a configuration error like a malformed value, so it stops the
 * start with one line naming the variable (its password masked) and what
 * failed; caught later it would look like an outage (503s, or for Redis
 * rate limits silently counted per instance). Once serving, either going
 * away is an outage, ridden out without a restart (docs/deploying.md).
 */
export async function checkConnections(config: Config): Promise<void> {
  // SQLite: opening the file is the check, and its failures already name the database.
  if (!config.databaseUrl.startsWith('sqlite:')) await reach('DATABASE_URL', config.databaseUrl, () => pingDatabase(config.databaseUrl));
  if (config.redisUrl !== null) await reach('REDIS_URL', config.redisUrl, () => pingRedis(config.redisUrl!));
}

/** The probes wait this long for an answer, as the database pool does for a connection. */
const PROBE_TIMEOUT_MS = 5000;

async function reach(variable: string, url: string, probe: () => Promise<void>): Promise<void> {
  try {
    await probe();
  } catch (error) {
    throw new Error(`${variable}=${maskCredentials(url)}: ${describeError(error)}`);
  }
}

async function pingDatabase(url: string): Promise<void> {
  const storage = openStorage(url, { poolSize: 1 });
  try {
    // Longer than the pool's own connection timeout (the same 5 s), whose error says more than the ping's.
    await storage.ping(PROBE_TIMEOUT_MS + 1000);
  } finally {
    await storage.close().catch(() => {});
  }
}

async function pingRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: PROBE_TIMEOUT_MS, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // ioredis rejects connect() with "Connection is closed." and tells the cause (refused, WRONGPASS, a bad
  // database index that it otherwise ignores, going on with database 0) only as an 'error' event.
  let cause: Error | undefined;
  redis.on('error', (error: Error) => (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw cause ?? error;
  } finally {
    redis.disconnect();
  }
  if (cause) throw cause;
}

/**
 * What `serika serve` says at start about a configuration that serves but
 * is likely not what was meant. One line each, logged once per start (by the
 * primary with --workers).
 */
export function startWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.upstreamBaseUrl === null) {
    warnings.push('UPSTREAM_BASE_URL is not set: no generation upstream is configured, so chat completions, image generation and the model list answer 503 (and the MCP tools that generate fail)');
  }
  return warnings;
}
