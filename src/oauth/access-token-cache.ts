import { LRUCache } from 'lru-cache';
import type { Invalidation, InvalidationFeed } from '../storage/invalidations.js';

/** What a cached token must carry for every way it can be ended to find it. */
export interface CacheableToken {
  token_hash: string;
  kind: string;
  family_id: string;
  code_hash: string | null;
  client_id: string;
  user_id: string;
}

/** Entries are read again at least this often, whatever the feed says (the backstop). */
const TTL_MS = 60_000;

/**
 * Access-token lookups kept in memory (bounded, least recently used out).
 * Only access tokens: they never change except by ending, and every change
 * that ends one announces it through the invalidation feed, which evicts
 * here exactly (this process at its commit, the others within the feed's
 * delay). While the feed is not fresh the cache is bypassed, so a revocation
 * is never missed for longer than the feed's staleness bound; a lookup that
 * overlapped an invalidation does not fill the cache.
 */
export class AccessTokenCache<T extends CacheableToken> {
  private readonly entries: LRUCache<string, T>;

  constructor(
    private readonly feed: InvalidationFeed,
    max: number,
  ) {
    this.entries = new LRUCache<string, T>({ max, ttl: TTL_MS, ttlAutopurge: false });
    feed.subscribe((events) => this.evict(events));
  }

  async get(tokenHash: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!this.feed.fresh) return load();
    const hit = this.entries.get(tokenHash);
    if (hit) return hit;
    const epoch = this.feed.epoch;
    const row = await load();
    if (row && row.kind === 'access' && this.feed.epoch === epoch && this.feed.fresh) this.entries.set(tokenHash, row);
    return row;
  }

  /** Whether a lookup of this hash would be answered from memory now. */
  holds(tokenHash: string): boolean {
    return this.feed.fresh && this.entries.has(tokenHash);
  }

  private evict(events: Invalidation[]): void {
    const scans: Array<(row: T) => boolean> = [];
    for (const { kind, key } of events) {
      if (kind === 'token') this.entries.delete(key);
      else scans.push(matcher(kind, key));
    }
    if (scans.length === 0) return;
    const doomed = [...this.entries.entries()].filter(([, row]) => scans.some((matches) => matches(row)));
    for (const [hash] of doomed) this.entries.delete(hash);
  }
}

function matcher(kind: Invalidation['kind'], key: string): (row: CacheableToken) => boolean {
  switch (kind) {
    case 'family':
      return (row) => row.family_id === key;
    case 'code':
      return (row) => row.code_hash === key;
    case 'grant':
      return (row) => grantKey(row.user_id, row.client_id) === key;
    case 'client':
      return (row) => row.client_id === key;
    case 'user':
      return (row) => row.user_id === key;
    case 'token':
      return (row) => row.token_hash === key;
  }
}

/** The key of a grant's invalidation: the user and the client. */
export function grantKey(userId: string, clientId: string): string {
  return `${userId} ${clientId}`;
}
