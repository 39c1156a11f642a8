import { LRUCache } from 'lru-cache';
import type { Invalidation, InvalidationFeed } from './invalidations.js';

/** What an invalidation ends in a cache: one entry by its key, and/or every entry a test matches. */
export interface Eviction<V> {
  key?: string;
  matches?: (value: V) => boolean;
}

export interface FeedCacheOptions<V extends object> {
  max: number;
  /** Entries are read again at least this often, whatever the feed says (the backstop). */
  ttlMs?: number;
  /** Whether a loaded value may be kept (an access token may; a refresh token, which rotation changes, may not). */
  keep?: (value: V) => boolean;
  /** What an invalidation ends; null when it ends nothing kept here. */
  evicts: (event: Invalidation) => Eviction<V> | null;
  /** Told how each lookup was answered (the metrics' hit rate). */
  count?: (result: 'hit' | 'miss' | 'bypass') => void;
}

/**
 * Lookups kept in memory (bounded, least recently used out), exact through
 * the invalidation feed: every change that could make an entry wrong is
 * announced there, and evicted here (this process at its commit, the others
 * within the feed's delay). While the feed is not fresh the cache is
 * bypassed, so an announced change is never missed for longer than the
 * feed's staleness bound; a lookup that overlapped an invalidation does not
 * fill the cache. Values are shared by every caller: they are frozen.
 */
export class FeedCache<V extends object> {
  private readonly entries: LRUCache<string, V>;

  constructor(
    private readonly feed: InvalidationFeed,
    private readonly options: FeedCacheOptions<V>,
  ) {
    this.entries = new LRUCache<string, V>({ max: options.max, ttl: options.ttlMs ?? 60_000 });
    feed.subscribe((events) => this.evict(events));
  }

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const count = this.options.count;
    if (!this.feed.fresh) {
      count?.('bypass');
      return load();
    }
    const hit = this.entries.get(key);
    count?.(hit ? 'hit' : 'miss');
    if (hit) return hit;
    const epoch = this.feed.epoch;
    const value = await load();
    if (value && (this.options.keep?.(value) ?? true) && this.feed.epoch === epoch && this.feed.fresh) this.entries.set(key, Object.freeze(value));
    return value;
  }

  /** Whether a lookup of this key would be answered from memory now. */
  holds(key: string): boolean {
    return this.feed.fresh && this.entries.has(key);
  }

  private evict(events: Invalidation[]): void {
    const tests: Array<(value: V) => boolean> = [];
    for (const event of events) {
      const eviction = this.options.evicts(event);
      if (eviction?.key !== undefined) this.entries.delete(eviction.key);
      if (eviction?.matches) tests.push(eviction.matches);
    }
    if (tests.length === 0) return;
    const doomed = [...this.entries.entries()].filter(([, value]) => tests.some((matches) => matches(value)));
    for (const [key] of doomed) this.entries.delete(key);
  }
}
