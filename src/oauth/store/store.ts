import type { Kysely } from 'kysely';
import type { Telemetry } from '../../http/telemetry.js';
import type { FeedCache } from '../../storage/feed-cache.js';
import type { Transactor } from '../../storage/group-commit.js';
import type { InvalidationFeed } from '../../storage/invalidations.js';
import type { Database } from '../../storage/schema.js';
import { accessTokenCache } from './access-token-cache.js';
import { AgentTokens } from './agent-tokens.js';
import { AuthorizationCodes } from './codes.js';
import { TokenIssuance } from './issuance.js';
import { PendingRequests } from './pending-requests.js';
import { pruneOAuthState } from './prune.js';
import { Revocation } from './revocation.js';
import type { Lifetimes } from './token-pair.js';
import { TokenLookup, type TokenWithUser } from './token-lookup.js';

export interface StoreOptions {
  telemetry?: Telemetry | null;
  /** Announces what revocations end, to every process's caches. */
  feed?: InvalidationFeed | null;
  /** Access-token lookups kept in memory (0: none). */
  cacheSize?: number;
  /** Group commit's transactor for redemptions and rotations; without it each commits by itself. */
  transact?: Transactor | null;
}

/**
 * The authorization server's state, one part per artifact: pending consent
 * requests, codes, token reads, token issuance, sub-agent tokens and revocation. Codes and
 * tokens are stored only as hashes (SPEC §4).
 */
export class OAuthStore {
  readonly pending: PendingRequests;
  readonly codes: AuthorizationCodes;
  readonly tokens: TokenLookup;
  readonly issuance: TokenIssuance;
  readonly revocation: Revocation;
  /** Sub-agent tokens (RFC 8693 token exchange, SPEC §15). */
  readonly agents: AgentTokens;
  readonly prune = pruneOAuthState;

  constructor(db: Kysely<Database>, readonly lifetimes: Lifetimes, now: () => number = Date.now, options: StoreOptions = {}) {
    const feed = options.feed ?? null;
    const telemetry = options.telemetry ?? null;
    const cache: FeedCache<TokenWithUser> | null = feed && (options.cacheSize ?? 0) > 0 ? accessTokenCache<TokenWithUser>(feed, options.cacheSize!, telemetry ? (result) => telemetry.tokenCacheLookup(result) : undefined) : null;
    this.pending = new PendingRequests(db, now);
    this.codes = new AuthorizationCodes(db, lifetimes, now);
    this.tokens = new TokenLookup(db, now, cache);
    this.issuance = new TokenIssuance(db, lifetimes, now, telemetry, options.transact ?? null, this.codes);
    this.revocation = new Revocation(db, now, telemetry, feed);
    this.agents = new AgentTokens(db, now, telemetry, options.transact ?? null);
  }
}
