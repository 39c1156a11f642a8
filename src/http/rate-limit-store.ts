import type { FastifyBaseLogger } from 'fastify';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

/** A fixed window's count so far and the milliseconds until it ends. */
export type RateWindow = { current: number; ttl: number };
type Callback = (error: Error | null, result: RateWindow) => void;
type Log = Pick<FastifyBaseLogger, 'warn' | 'info'>;

const PREFIX = 'serika:rl:';

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
if ttl < 0 then return {0, 0} end
return {current, ttl}`;

/** In-process fixed windows, bounded: the counter without Redis, and the fallback when Redis is away. */
class LocalWindows {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  hit(key: string, windowMs: number): RateWindow {
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

  giveBack(key: string): RateWindow {
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
 * @fastify/rate-limit (sharedRateLimitStore) and the limits counted in the
 * domains (metadata documents fetched, failed sign-ins). Keys share one prefix.
 */
export class RateCounter {
  private readonly local = new LocalWindows();
  private degraded = false;
  /** Where outages are told; set by the app that owns the counter. */
  log: Log | null = null;

  constructor(private readonly redis: Redis | null) {}

  /** Counts one more under key (a window of windowMs starts at the first); without Redis the callback runs at once. */
  incr(key: string, windowMs: number, callback: Callback): void {
    this.run(INCR, key, [String(windowMs)], () => this.local.hit(PREFIX + key, windowMs), callback);
  }

  hit(key: string, windowMs: number): Promise<RateWindow> {
    return new Promise((resolve) => this.incr(key, windowMs, (_error, result) => resolve(result)));
  }

  /** Takes one hit back from the current window, never below 0 (a limit that counts only some outcomes). */
  giveBack(key: string): Promise<RateWindow> {
    return new Promise((resolve) => this.run(GIVE_BACK, key, [], () => this.local.giveBack(PREFIX + key), (_error, result) => resolve(result)));
  }

  /**
   * One of `limit` places in the window, counted before the work it guards (so attempts sent together cannot all
   * pass before any is counted): null when there is a place, else the seconds until the window ends (the refused
   * attempt is not counted). A limit that counts only some outcomes gives the place back (giveBack) for the others.
   */
  async take(key: string, limit: number, windowMs: number): Promise<number | null> {
    const counted = await this.hit(key, windowMs);
    if (counted.current <= limit) return null;
    await this.giveBack(key);
    return Math.max(1, Math.ceil(counted.ttl / 1000));
  }

  private run(script: string, key: string, args: string[], locally: () => RateWindow, callback: Callback): void {
    const redis = this.redis;
    if (!redis || redis.status !== 'ready') {
      if (redis && !this.degraded) {
        this.degraded = true;
        this.log?.warn('Redis is unreachable: rate limits are counted per instance until it is back');
      }
      callback(null, locally());
      return;
    }
    redis.eval(script, 1, PREFIX + key, ...args).then(
      (result) => {
        if (this.degraded) {
          this.degraded = false;
          this.log?.info('Redis is back: rate limits are shared again');
        }
        const [current, ttl] = result as [number, number];
        callback(null, { current, ttl });
      },
      (error: unknown) => {
        if (!this.degraded) {
          this.degraded = true;
          this.log?.warn({ err: error }, 'Redis failed: rate limits are counted per instance until it is back');
        }
        callback(null, locally());
      },
    );
  }
}

/** A @fastify/rate-limit store over the counter (limits that count every request). */
export function sharedRateLimitStore(counter: RateCounter) {
  return class SharedStore {
    constructor(
      _params?: unknown,
      private readonly prefix = '',
    ) {}

    incr(key: string, callback: Callback, timeWindow: number): void {
      counter.incr(this.prefix + key, timeWindow, callback);
    }

    child(routeOptions: unknown): SharedStore {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {};
      return new SharedStore(undefined, `${this.prefix}${route.method ?? ''}${route.url ?? ''}:`);
    }
  } as unknown as FastifyRateLimitStoreCtor;
}
