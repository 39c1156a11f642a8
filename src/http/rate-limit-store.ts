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
      if (!redis || redis.status !== 'ready') {
        if (redis && !degraded) {
          degraded = true;
          log.warn('Redis is unreachable: rate limits are counted per instance until it is back');
        }
        callback(null, local.hit(this.prefix + key, timeWindow));
        return;
      }
      redis.eval(INCR, 1, this.prefix + key, String(timeWindow)).then(
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
          callback(null, local.hit(this.prefix + key, timeWindow));
        },
      );
    }

    child(routeOptions: unknown): SharedStore {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {};
      return new SharedStore(undefined, `${this.prefix}${route.method ?? ''}${route.url ?? ''}:`);
    }
  } as unknown as FastifyRateLimitStoreCtor;
}
