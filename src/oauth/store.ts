import { JOINED_BUDGET, type JoinedBudget } from '../consent/joined-budget.js';
import type { Kysely } from 'kysely';
import { randomId } from '../security/secrets.js';
import { prepared } from '../storage/prepared.js';
import type { Database, OAuthCodesTable, OAuthPendingRequestsTable, OAuthTokensTable } from '../storage/schema.js';
import { credentialKey, familyOfCode, mint } from './tokens.js';
import { tokenWrites, type Consumed, type TokenWrites } from './token-writes.js';
import { tokenPair, type IssuedTokens, type Lifetimes, type TokenSubject } from './token-pair.js';
import { formatScopes, parseScopes } from '../scopes.js';
import type { RevokeReason, Telemetry } from '../http/telemetry.js';
import { EVERY_RESOURCE, formatAudience, parseAudience, type Audience } from '../audiences.js';
import type { Invalidation, InvalidationFeed } from '../storage/invalidations.js';
import type { Transactor } from '../storage/group-commit.js';
import { accessTokenCache, grantKey } from './access-token-cache.js';
import type { FeedCache } from '../storage/feed-cache.js';
import type { UserProfile } from '../accounts/users-service.js';

export type { IssuedTokens, Lifetimes, TokenSubject } from './token-pair.js';

export type PendingRequest = OAuthPendingRequestsTable;
export type CodeRow = OAuthCodesTable;
/** The user's columns read beside a token or a code: userinfo's and the ID token's profile claims. */
const USER_PROFILE = ['users.username as username', 'users.avatar as avatar', 'users.email as email'] as const;
/** A code with its user's profile claims (an ID token needs them) and its grant's budget, read in the same statement. */
export type CodeWithUser = CodeRow & UserProfile & JoinedBudget;
export type TokenRow = OAuthTokensTable;

/** An access token with its owner, as the bearer guard needs it. */
export interface AccessGrant {
  clientId: string;
  userId: string;
  username: string;
  avatar: string | null;
  email: string | null;
  scopes: string;
  /** The scopes, split once (RFC 6749 §3.3). */
  scopeList: readonly string[];
  expiresAt: number;
  audience: Audience;
}

/** A token row with its user's public fields: what the bearer guard and introspection read. */
export type TokenWithUser = TokenRow & UserProfile;

export interface StoreOptions {
  telemetry?: Telemetry | null;
  /** Announces what revocations end, to every process's caches. */
  feed?: InvalidationFeed | null;
  /** Access-token lookups kept in memory (0: none). */
  cacheSize?: number;
  /** Group commit's transactor for redemptions and rotations; without it each commits by itself. */
  transact?: Transactor | null;
}

/** Where a token stands; the one place that decides whether a token is live. */
export type TokenState = 'live' | 'revoked' | 'consumed' | 'expired';

export function tokenState(row: { revoked_at: number | null; consumed_at: number | null; expires_at: number }, now: number): TokenState {
  if (row.revoked_at !== null) return 'revoked';
  if (row.consumed_at !== null) return 'consumed';
  return row.expires_at <= now ? 'expired' : 'live';
}

/** Pending consent requests live ten minutes: long enough to read the page, short enough to go stale safely. */
const PENDING_TTL_MS = 10 * 60 * 1000;

/**
 * Persistence of the authorization server's short- and long-lived state:
 * pending consent requests, codes and tokens. Codes and tokens are stored
 * only as SHA-256 hashes (SPEC §4).
 */
export class OAuthStore {
  private readonly selectToken;
  private readonly selectWithUser;
  private readonly selectCode;
  private readonly telemetry: Telemetry | null;
  private readonly feed: InvalidationFeed | null;
  private readonly cache: FeedCache<TokenWithUser> | null;
  private readonly grants = new WeakMap<TokenWithUser, AccessGrant>();
  private readonly transact: Transactor | null;
  private readonly writes: TokenWrites = tokenWrites();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly lifetimes: Lifetimes,
    private readonly now: () => number = Date.now,
    options: StoreOptions = {},
  ) {
    this.telemetry = options.telemetry ?? null;
    this.feed = options.feed ?? null;
    this.transact = options.transact ?? null;
    this.cache = this.feed && (options.cacheSize ?? 0) > 0 ? accessTokenCache<TokenWithUser>(this.feed, options.cacheSize!) : null;
    this.selectToken = prepared(db, (d) =>
      d
        .selectFrom('oauth_tokens')
        .leftJoin('oauth_budgets', (join) => join.onRef('oauth_budgets.user_id', '=', 'oauth_tokens.user_id').onRef('oauth_budgets.client_id', '=', 'oauth_tokens.client_id'))
        .selectAll('oauth_tokens')
        .select(JOINED_BUDGET)
        .where('oauth_tokens.token_hash', '=', ''),
    );
    this.selectCode = prepared(db, (d) =>
      d
        .selectFrom('oauth_codes')
        .innerJoin('users', 'users.id', 'oauth_codes.user_id')
        .leftJoin('oauth_budgets', (join) => join.onRef('oauth_budgets.user_id', '=', 'oauth_codes.user_id').onRef('oauth_budgets.client_id', '=', 'oauth_codes.client_id'))
        .selectAll('oauth_codes')
        .select(USER_PROFILE)
        .select(JOINED_BUDGET)
        .where('oauth_codes.code_hash', '=', ''),
    );
    this.selectWithUser = prepared(db, (d) =>
      d
        .selectFrom('oauth_tokens')
        .innerJoin('users', 'users.id', 'oauth_tokens.user_id')
        .selectAll('oauth_tokens')
        .select(USER_PROFILE)
        .where('oauth_tokens.token_hash', '=', ''),
    );
  }

  async createPending(
    request: Omit<PendingRequest, 'id' | 'created_at' | 'expires_at' | 'nonce' | 'auth_time' | 'resources'> & Partial<Pick<PendingRequest, 'nonce' | 'auth_time' | 'resources'>>,
  ): Promise<string> {
    const now = this.now();
    const id = randomId('req_');
    await this.db
      .insertInto('oauth_pending_requests')
      .values({ nonce: null, auth_time: null, resources: null, ...request, id, created_at: now, expires_at: now + PENDING_TTL_MS })
      .execute();
    return id;
  }

  /** Single use: the row is deleted as it is read, so a decision is taken once even if posted twice. */
  async takePending(id: string, userId: string): Promise<PendingRequest | undefined> {
    const row = await this.db
      .deleteFrom('oauth_pending_requests')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirst();
    return row && row.expires_at > this.now() ? row : undefined;
  }

  async createCode(subject: TokenSubject & { redirectUri: string; codeChallenge: string; nonce?: string | null }, executor: Kysely<Database> = this.db): Promise<string> {
    // The code carries the audience the user allowed; the token request may narrow it (RFC 8707 §2.2).
    const now = this.now();
    const code = mint('code');
    await executor
      .insertInto('oauth_codes')
      .values({
        code_hash: code.hash,
        client_id: subject.clientId,
        user_id: subject.userId,
        redirect_uri: subject.redirectUri,
        scopes: formatScopes(subject.scopes),
        code_challenge: subject.codeChallenge,
        created_at: now,
        expires_at: now + this.lifetimes.authCode * 1000,
        consumed_at: null,
        nonce: subject.nonce ?? null,
        auth_time: subject.authTime ?? null,
        resources: formatAudience(subject.audience ?? EVERY_RESOURCE),
      })
      .execute();
    return code.value;
  }

  /** The code with its user's profile (codes go with their user: the foreign key cascades) and its grant's budget. */
  async findCode(code: string): Promise<CodeWithUser | undefined> {
    return (await this.selectCode(credentialKey(code))).rows[0];
  }

  /**
   * Consumes the code and issues its tokens in one transaction. The consuming
   * UPDATE is conditional, so of any number of racing redemptions exactly one
   * sees a row change (PostgreSQL re-checks the condition after the row lock;
   * SQLite serialises writers). Returns null when the code was already used.
   */
  async redeemCode(codeHash: string, subject: TokenSubject): Promise<IssuedTokens | null> {
    const issued = await this.replace({ kind: 'code', hash: codeHash }, subject, familyOfCode(codeHash), codeHash);
    if (issued) this.telemetry?.tokensIssued('authorization_code');
    return issued;
  }

  /** RFC 6749 §4.1.2: a code used twice revokes every token issued from it. */
  async revokeByCode(codeHash: string): Promise<number> {
    const family = familyOfCode(codeHash);
    return this.revokeWhere('family_id', family, { kind: 'family', key: family }, 'code_replay');
  }

  /**
   * Revokes the live tokens whose column holds the value, and announces what
   * it ended to every process's cache, in one transaction.
   */
  private async revokeWhere(column: 'family_id' | 'token_hash', value: string, event: Invalidation, reason: RevokeReason): Promise<number> {
    const count = await this.db.transaction().execute(async (trx) => {
      const result = await trx.updateTable('oauth_tokens').set({ revoked_at: this.now() }).where(column, '=', value).where('revoked_at', 'is', null).executeTakeFirst();
      return this.ended(trx, Number(result.numUpdatedRows), event);
    });
    return this.revoked(reason, count);
  }

  /** Announces to every process's cache what a revocation ended (in its transaction), when it ended anything. */
  private async ended(trx: Kysely<Database>, count: number, ...events: Invalidation[]): Promise<number> {
    if (count > 0) await this.feed?.record(trx, events);
    return count;
  }

  private revoked(reason: RevokeReason, count: number): number {
    this.telemetry?.tokensRevoked(reason, count);
    return count;
  }

  /**
   * RFC 9700 §4.14.2 rotation: consumes the refresh token and issues its
   * successor in the same family, in one transaction. The consuming UPDATE is
   * conditional, so of racing uses exactly one wins; null for the others.
   */
  async rotateRefresh(old: TokenRow, subject: TokenSubject): Promise<IssuedTokens | null> {
    const issued = await this.replace({ kind: 'refresh', hash: old.token_hash }, subject, old.family_id, old.code_hash);
    if (issued) this.telemetry?.tokensIssued('refresh_token');
    return issued;
  }

  /** Revokes every token of a family: the refresh chain and all its access tokens. */
  async revokeFamily(familyId: string, reason: 'revocation' | 'refresh_replay'): Promise<number> {
    return this.revokeWhere('family_id', familyId, { kind: 'family', key: familyId }, reason);
  }

  /** Revokes one token; returns 1 when it was live, else 0. */
  async revokeToken(tokenHash: string): Promise<number> {
    return this.revokeWhere('token_hash', tokenHash, { kind: 'token', key: tokenHash }, 'revocation');
  }

  /**
   * A token with its user by the token's hash: one indexed lookup, or none
   * when the access token is in the cache (kept exact by the invalidation feed).
   */
  private async withUser(token: string): Promise<TokenWithUser | undefined> {
    const hash = credentialKey(token);
    const load = async () => (await this.selectWithUser(hash)).rows[0];
    return this.cache ? this.cache.get(hash, load) : load();
  }

  /** Whether this process would answer a lookup of the token from memory (tests and metrics). */
  isCached(token: string): boolean {
    return this.cache?.holds(credentialKey(token)) ?? false;
  }

  /** A live access token and its user, or undefined (the bearer guard). */
  async findLiveAccessToken(token: string): Promise<AccessGrant | undefined> {
    const row = await this.withUser(token);
    if (!row || row.kind !== 'access' || tokenState(row, this.now()) !== 'live') return undefined;
    // A cached row is read by many requests: its grant is built once (frozen, shared).
    let grant = this.grants.get(row);
    if (!grant) {
      grant = Object.freeze({
        clientId: row.client_id,
        userId: row.user_id,
        username: row.username,
        avatar: row.avatar,
        email: row.email,
        scopes: row.scopes,
        scopeList: Object.freeze(parseScopes(row.scopes)),
        expiresAt: row.expires_at,
        audience: parseAudience(row.resources),
      });
      this.grants.set(row, grant);
    }
    return grant;
  }

  /** The stored row, never from the cache (the token endpoint and revocation read it to change it), with its grant's budget (a refresh's token response carries it). */
  async findToken(token: string): Promise<TokenRow & JoinedBudget | undefined> {
    return (await this.selectToken(credentialKey(token))).rows[0];
  }

  /** A live access or refresh token of this client with its user, or undefined (introspection, RFC 7662 §2.2). */
  async findLiveTokenOf(token: string, clientId: string): Promise<TokenWithUser | undefined> {
    const row = await this.withUser(token);
    return row && row.client_id === clientId && tokenState(row, this.now()) === 'live' ? row : undefined;
  }

  /**
   * Removing a scope from a client (SPEC §3) ends every code and live token
   * of that client that holds it; run in the caller's transaction so the
   * grants holding it end with them.
   */
  async revokeClientScopes(trx: Kysely<Database>, clientId: string, removed: string[]): Promise<void> {
    const now = this.now();
    const holds = (scopes: string) => parseScopes(scopes).some((s) => removed.includes(s));
    const tokens = await trx.selectFrom('oauth_tokens').select(['token_hash', 'scopes']).where('client_id', '=', clientId).where('revoked_at', 'is', null).execute();
    const doomed = tokens.filter((t) => holds(t.scopes)).map((t) => t.token_hash);
    for (let i = 0; i < doomed.length; i += 500) {
      await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('token_hash', 'in', doomed.slice(i, i + 500)).execute();
    }
    this.revoked('scope_removed', await this.ended(trx, doomed.length, { kind: 'client', key: clientId }));
    const codes = await trx.selectFrom('oauth_codes').select(['code_hash', 'scopes']).where('client_id', '=', clientId).execute();
    for (const code of codes.filter((c) => holds(c.scopes))) {
      await trx.deleteFrom('oauth_codes').where('code_hash', '=', code.code_hash).execute();
    }
  }

  /** A grant was revoked: every token the app holds for the user dies, and its codes can no longer be redeemed. */
  async endGrant(trx: Kysely<Database>, userId: string, clientId: string): Promise<void> {
    const result = await trx
      .updateTable('oauth_tokens')
      .set({ revoked_at: this.now() })
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.revoked('grant_revoked', await this.ended(trx, Number(result.numUpdatedRows), { kind: 'grant', key: grantKey(userId, clientId) }));
    await trx.deleteFrom('oauth_codes').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
  }

  /**
   * Prunes what can never be used again (run in the pruner's transaction):
   * pending requests past their ten minutes, and codes and tokens a day past
   * their expiry (the day keeps replays of the recently expired answered as
   * such). Returns the rows deleted per kind.
   */
  async prune(trx: Kysely<Database>, now: number): Promise<Record<string, number>> {
    const graceMs = 86_400_000;
    const pending = await trx.deleteFrom('oauth_pending_requests').where('expires_at', '<', now).executeTakeFirst();
    const codes = await trx.deleteFrom('oauth_codes').where('expires_at', '<', now - graceMs).executeTakeFirst();
    const tokens = await trx.deleteFrom('oauth_tokens').where('expires_at', '<', now - graceMs).executeTakeFirst();
    return { pendingRequests: Number(pending.numDeletedRows), codes: Number(codes.numDeletedRows), tokens: Number(tokens.numDeletedRows) };
  }

  /** When the app last obtained tokens for the user (code redemption or refresh). */
  async lastIssued(userId: string, clientId: string): Promise<number | null> {
    const row = await this.db
      .selectFrom('oauth_tokens')
      .select((eb) => eb.fn.max('created_at').as('last'))
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row?.last === null || row?.last === undefined ? null : Number(row.last);
  }

  /** Inserts an access token and a refresh token of one family. */
  async issue(db: Kysely<Database>, subject: TokenSubject, familyId: string, codeHash: string | null): Promise<IssuedTokens> {
    const { rows, issued } = tokenPair(subject, familyId, codeHash, this.now(), this.lifetimes);
    await this.writes.insertPair(db, ...rows);
    return issued;
  }

  /**
   * Consumes a code or a refresh token and issues the pair that takes its
   * place, committed before this resolves; null when it was used already.
   */
  private async replace(consumed: Consumed, subject: TokenSubject, familyId: string, codeHash: string | null): Promise<IssuedTokens | null> {
    const now = this.now();
    const { rows, issued } = tokenPair(subject, familyId, codeHash, now, this.lifetimes);
    const work = async (trx: Kysely<Database>) => ((await this.writes.replace(trx, consumed, now, ...rows)) ? issued : null);
    if (this.transact) return this.transact(work);
    // One statement is a transaction by itself (PostgreSQL): none is opened around it, which saves BEGIN and COMMIT,
    // two of a redemption's five round trips.
    return this.writes.isOneStatement(this.db) ? work(this.db) : this.db.transaction().execute(work);
  }
}
