import type { FastifyBaseLogger } from 'fastify';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

type Result = { current: number; ttl: number };
type Callback = (error: Error | null, result: Result) => void;

// One atomic step per hit: count, and start the window on the first hit.
const INCR = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}`;

// The count as it stands, without counting (a peek: @fastify/rate-limit's `{ increment: false }`).
const READ = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {current, ttl}`;

/** In-process fixed windows, bounded: the store without Redis, and the fallback when Redis is away. */
class LocalWindows {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  hit(key: string, windowMs: number): Result {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= 50_000) this.prune(now);
      w = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    return { current: w.count, ttl: w.resetAt - now };
  }

  peek(key: string): Result {
    const now = Date.now();
    const w = this.windows.get(key);
    return !w || w.resetAt <= now ? { current: 0, ttl: 0 } : { current: w.count, ttl: w.resetAt - now };
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    if (this.windows.size >= 50_000) this.windows.clear();
  }
}

/**
 * A @fastify/rate-limit store: counters shared by every instance through
 * Redis when REDIS_URL is set. When Redis is unreachable, each instance
 * counts on its own, with one warning per outage, and never fails a request.
 */
export function sharedRateLimitStore(redis: Redis | null, log: FastifyBaseLogger) {
  const local = new LocalWindows();
  let degraded = false;
  return class SharedStore {
    constructor(
      _params?: unknown,
      private readonly prefix = 'serika:rl:',
    ) {}

    incr(key: string, callback: Callback, timeWindow: number): void {
      this.run(INCR, [this.prefix + key, String(timeWindow)], () => local.hit(this.prefix + key, timeWindow), callback);
    }

    read(key: string, callback: Callback): void {
      this.run(READ, [this.prefix + key], () => local.peek(this.prefix + key), callback);
    }

    /** The script on Redis, or the local windows while Redis is away. */
    private run(script: string, args: [string, ...string[]], fallback: () => Result, callback: Callback): void {
      if (!redis || redis.status !== 'ready') {
        if (redis && !degraded) {
          degraded = true;
          log.warn('Redis is unreachable: rate limits are counted per instance until it is back');
        }
        callback(null, fallback());
        return;
      }
      redis.eval(script, 1, ...args).then(
        (result) => {
          if (degraded) {
            degraded = false;
            log.info('Redis is back: rate limits are shared again');
          }
          const [current, ttl] = result as [number, number];
          callback(null, { current, ttl });
        },
        (error: unknown) => {
          if (!degraded) {
            degraded = true;
            log.warn({ err: error }, 'Redis failed: rate limits are counted per instance until it is back');
          }
          callback(null, fallback());
        },
      );
    }

    child(routeOptions: unknown): SharedStore {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {};
      return new SharedStore(undefined, `${this.prefix}${route.method ?? ''}${route.url ?? ''}:`);
    }
  } as unknown as FastifyRateLimitStoreCtor;
}
