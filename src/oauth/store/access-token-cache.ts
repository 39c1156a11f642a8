import { grantKey, type Invalidation, type InvalidationFeed } from '../../storage/invalidations.js';
import { FeedCache, type Eviction } from '../../storage/feed-cache.js';

/** What a cached token must carry for every way it can be ended to find it. */
export interface CacheableToken {
  token_hash: string;
  kind: string;
  family_id: string;
  code_hash: string | null;
  client_id: string;
  user_id: string;
}

/** Which cached tokens each kind of invalidation ends. */
function evicts(event: Invalidation): Eviction<CacheableToken> {
  const { kind, key } = event;
  switch (kind) {
    case 'token':
      return { key };
    case 'family':
      return { matches: (row) => row.family_id === key };
    case 'code': // recorded only by processes from before migration 0010 (a code's tokens are now its family)
      return { matches: (row) => row.code_hash === key };
    case 'grant':
      return { matches: (row) => grantKey(row.user_id, row.client_id) === key };
    case 'client':
      return { matches: (row) => row.client_id === key };
    case 'user':
      return { matches: (row) => row.user_id === key };
    case 'budget': // a changed limit ends no token
      return {};
  }
}

/**
 * Access-token lookups by token hash. Only access tokens are kept: they
 * never change except by ending, and every change that ends one is announced
 * through the feed; a refresh token changes with every rotation.
 */
export function accessTokenCache<T extends CacheableToken>(feed: InvalidationFeed, max: number, count?: (result: 'hit' | 'miss' | 'bypass') => void): FeedCache<T> {
  return new FeedCache<T>(feed, { max, keep: (row) => row.kind === 'access', evicts, ...(count ? { count } : {}) });
}
