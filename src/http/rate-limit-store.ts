import type { FastifyBaseLogger } from 'fastify';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

export type Count = { current: number; ttl: number };
type Callback = (error: Error | null, result: Count) => void;

const NAMESPACE = 'serika:rl:';

// One atomic step per hit: count, and start the window on the first hit.
const INCR = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}`;

// A hit given back, in one atomic step: never below 0, never a window of its own (DECR keeps the TTL).
const GIVE_BACK = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > 0 then current = redis.call('DECR', KEYS[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {current, ttl}`;

/** In-process fixed windows, bounded: the counters without Redis, and the fallback when Redis is away. */
class LocalWindows {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  hit(key: string, windowMs: number): Count {
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

  giveBack(key: string): Count {
    const now = Date.now();
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) return { current: 0, ttl: 0 };
    if (w.count > 0) w.count--;
    return { current: w.count, ttl: w.resetAt - now };
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    if (this.windows.size >= 50_000) this.windows.clear();
  }
}

/**
 * Fixed-window counters shared by every instance through Redis when
 * REDIS_URL is set. When Redis is unreachable, each instance counts on its
 * own, with one warning per outage, and never fails a request. Behind
 * @fastify/rate-limit (`rateLimitStore`) and used directly where a hit must
 * be given back (the sign-in limit, which counts failures only).
 */
export class RateCounters {
  private readonly local = new LocalWindows();
  private degraded = false;

  constructor(
    private readonly redis: Redis | null,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Counts a hit (the first one starts a window of `windowMs`) and returns the count it makes. */
  hit(key: string, windowMs: number): Promise<Count> {
    return this.run(INCR, [NAMESPACE + key, String(windowMs)], () => this.local.hit(NAMESPACE + key, windowMs));
  }

  /** Takes one hit back from the current window, never below 0. */
  giveBack(key: string): Promise<Count> {
    return this.run(GIVE_BACK, [NAMESPACE + key], () => this.local.giveBack(NAMESPACE + key));
  }

  /** The script on Redis, or the local windows while Redis is away. */
  private async run(script: string, args: [string, ...string[]], fallback: () => Count): Promise<Count> {
    const redis = this.redis;
    if (!redis || redis.status !== 'ready') {
      if (redis && !this.degraded) {
        this.degraded = true;
        this.log.warn('Redis is unreachable: rate limits are counted per instance until it is back');
      }
      return fallback();
    }
    let result: unknown;
    try {
      result = await redis.eval(script, 1, ...args);
    } catch (error) {
      if (!this.degraded) {
        this.degraded = true;
        this.log.warn({ err: error }, 'Redis failed: rate limits are counted per instance until it is back');
      }
      return fallback();
    }
    if (this.degraded) {
      this.degraded = false;
      this.log.info('Redis is back: rate limits are shared again');
    }
    const [current, ttl] = result as [number, number];
    return { current, ttl };
  }
}

/** The counters as a @fastify/rate-limit store (a route's own limit gets a key prefix of its own). */
export function rateLimitStore(counters: RateCounters) {
  return class SharedStore {
    constructor(
      _params?: unknown,
      private readonly prefix = '',
    ) {}

    incr(key: string, callback: Callback, timeWindow: number): void {
      counters.hit(this.prefix + key, timeWindow).then(
        (count) => callback(null, count),
        (error: Error) => callback(error, { current: 0, ttl: 0 }),
      );
    }

    child(routeOptions: unknown): SharedStore {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {};
      return new SharedStore(undefined, `${this.prefix}${route.method ?? ''}${route.url ?? ''}:`);
    }
  } as unknown as FastifyRateLimitStoreCtor;
}
