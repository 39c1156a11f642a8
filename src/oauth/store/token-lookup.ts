import type { Kysely } from 'kysely';
import type { UserProfile } from '../../accounts/users-service.js';
import { parseAudience, type Audience } from '../../audiences.js';
import { JOINED_BUDGET, type JoinedBudget } from '../../consent/joined-budget.js';
import { JOINED_GRANT_CHARACTERS, decodeChoice, effectiveChoice, type CharacterChoice } from '../../consent/character-choice.js';
import { parseScopes } from '../../scopes.js';
import type { FeedCache } from '../../storage/feed-cache.js';
import { anyOf, lookupByKey } from '../../storage/batched-reads.js';
import { prepared } from '../../storage/prepared.js';
import type { Database, OAuthTokensTable } from '../../storage/schema.js';
import { credentialKey } from './credentials.js';
import { tokenState } from './token-state.js';
import { USER_PROFILE } from './user-profile.js';

export type TokenRow = OAuthTokensTable;
/** A token row with its user's public fields: what the bearer guard and introspection read. */
export type TokenWithUser = TokenRow & UserProfile & AgentColumns & CharacterColumns;

/** A sub-agent token's columns (SPEC §15), read beside the token; all null for any other token. */
interface AgentColumns {
  agent_depth: number | null;
  agent_name: string | null;
  agent_act: string | null;
  agent_lineage: string | null;
}
/**
 * SPEC §15: the characters the token's grant allows, and a sub-agent's narrowing, as stored (JSON ids; null: all).
 * Read with the token so every cached lookup carries them; a change of the grant's is a grant invalidation.
 */
interface CharacterColumns {
  grant_characters: string | null;
  agent_characters: string | null;
}
const CHARACTER_COLUMNS = [JOINED_GRANT_CHARACTERS, 'oauth_agent_tokens.characters as agent_characters'] as const;

/** What a token may see: its grant's characters narrowed by its own (a sub-agent's). */
export function tokenCharacters(row: CharacterColumns): CharacterChoice {
  return effectiveChoice(decodeChoice(row.grant_characters), decodeChoice(row.agent_characters));
}

const AGENT_COLUMNS = ['oauth_agent_tokens.depth as agent_depth', 'oauth_agent_tokens.agent_name as agent_name', 'oauth_agent_tokens.act as agent_act', 'oauth_agent_tokens.lineage as agent_lineage'] as const;

/** An access token with its owner, as the bearer guard needs it. */
export interface AccessGrant {
  clientId: string;
  userId: string;
  username: string;
  avatar: string | null;
  email: string | null;
  verifiedEmail: string | null;
  scopes: string;
  /** The scopes, split once (RFC 6749 §3.3). */
  scopeList: readonly string[];
  expiresAt: number;
  audience: Audience;
  /** A sub-agent token's hash and its sub-agent ancestors', leaf first (SPEC §15); null for the user's own token. */
  agents: readonly string[] | null;
  /** The characters it may see (SPEC §15): ids, or null for every one of the user's. */
  characters: CharacterChoice;
}

/** Reads of access and refresh tokens; access-token lookups through the cache the invalidation feed keeps exact. */
export class TokenLookup {
  private readonly selectToken;
  private readonly selectWithUser;
  private readonly grants = new WeakMap<TokenWithUser, AccessGrant>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly cache: FeedCache<TokenWithUser> | null,
  ) {
    const tokens = (d: Kysely<Database>) =>
      d
        .selectFrom('oauth_tokens')
        .leftJoin('oauth_budgets', (join) => join.onRef('oauth_budgets.user_id', '=', 'oauth_tokens.user_id').onRef('oauth_budgets.client_id', '=', 'oauth_tokens.client_id'))
        .leftJoin('oauth_grants', (join) => join.onRef('oauth_grants.user_id', '=', 'oauth_tokens.user_id').onRef('oauth_grants.client_id', '=', 'oauth_tokens.client_id'))
        .selectAll('oauth_tokens')
        .select(JOINED_BUDGET)
        .select(JOINED_GRANT_CHARACTERS);
    const one = prepared(db, (d) => tokens(d).where('oauth_tokens.token_hash', '=', ''));
    const many = prepared(db, (d) => tokens(d).where(anyOf('oauth_tokens.token_hash')));
    this.selectToken = lookupByKey(db, one, many, (row) => row.token_hash);
    this.selectWithUser = prepared(db, (d) =>
      d
        .selectFrom('oauth_tokens')
        .innerJoin('users', 'users.id', 'oauth_tokens.user_id')
        .leftJoin('oauth_agent_tokens', 'oauth_agent_tokens.token_hash', 'oauth_tokens.token_hash')
        .leftJoin('oauth_grants', (join) => join.onRef('oauth_grants.user_id', '=', 'oauth_tokens.user_id').onRef('oauth_grants.client_id', '=', 'oauth_tokens.client_id'))
        .selectAll('oauth_tokens')
        .select(USER_PROFILE)
        .select(AGENT_COLUMNS)
        .select(CHARACTER_COLUMNS)
        .where('oauth_tokens.token_hash', '=', ''),
    );
  }

  /** A token with its user by the token's hash: one indexed lookup, or none when the access token is in the cache. */
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
  async findLiveAccess(token: string): Promise<AccessGrant | undefined> {
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
        verifiedEmail: row.verifiedEmail,
        scopes: row.scopes,
        scopeList: Object.freeze(parseScopes(row.scopes)),
        expiresAt: row.expires_at,
        audience: parseAudience(row.resources),
        agents: row.agent_lineage === null ? null : Object.freeze(row.agent_lineage.split(' ')),
        characters: tokenCharacters(row),
      });
      this.grants.set(row, grant);
    }
    return grant;
  }

  /** The stored row, never from the cache (the token endpoint and revocation read it to change it), with its grant's budget and characters (a refresh's token response carries them). */
  async find(token: string): Promise<(TokenRow & JoinedBudget & Pick<CharacterColumns, 'grant_characters'>) | undefined> {
    return this.selectToken(credentialKey(token));
  }

  /** A token with its user and sub-agent columns, live or not, whoever's (token exchange's subject token, which it judges itself). */
  async findWithAgent(token: string): Promise<TokenWithUser | undefined> {
    return this.withUser(token);
  }

  /** A live access or refresh token of this client with its user, or undefined (introspection, RFC 7662 §2.2). */
  async findLiveOf(token: string, clientId: string): Promise<TokenWithUser | undefined> {
    const row = await this.withUser(token);
    return row && row.client_id === clientId && tokenState(row, this.now()) === 'live' ? row : undefined;
  }

  /** The characters a grant allows (SPEC §15), for a token response that has no row joined with it (the device grant's). */
  async grantCharacters(userId: string, clientId: string): Promise<CharacterChoice> {
    const row = await this.db.selectFrom('oauth_grants').select('characters').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
    return decodeChoice(row?.characters ?? null);
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
}
