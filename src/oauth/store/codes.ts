import type { Kysely } from 'kysely';
import { EVERY_RESOURCE, formatAudience } from '../../audiences.js';
import type { UserProfile } from '../../accounts/users-service.js';
import { JOINED_GRANT_CHARACTERS } from '../../consent/character-choice.js';
import { JOINED_BUDGET, type JoinedBudget } from '../../consent/joined-budget.js';
import { formatScopes } from '../../scopes.js';
import { anyOf, lookupByKey } from '../../storage/batched-reads.js';
import { preparedIn } from '../../storage/prepared.js';
import type { Database, OAuthCodesTable } from '../../storage/schema.js';
import { credentialKey, mint } from './credentials.js';
import type { Lifetimes, TokenSubject } from './token-pair.js';
import { USER_PROFILE } from './user-profile.js';

type CodeRow = OAuthCodesTable;
/** A code with its user's profile claims (an ID token needs them) and its grant's budget, read in the same statement. */
export type CodeWithUser = CodeRow & UserProfile & JoinedBudget & { grant_characters: string | null };

export type NewCode = TokenSubject & { redirectUri: string; codeChallenge: string; nonce?: string | null };

/** Authorization codes (RFC 6749 §4.1.2), stored as hashes; redeemed by TokenIssuance.redeemCode. */
export class AuthorizationCodes {
  private readonly selectCode;
  private readonly batched: (hash: string) => Promise<CodeWithUser | undefined>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly lifetimes: Lifetimes,
    private readonly now: () => number,
  ) {
    const codes = (d: Kysely<Database>) =>
      d
        .selectFrom('oauth_codes')
        .innerJoin('users', 'users.id', 'oauth_codes.user_id')
        .leftJoin('oauth_budgets', (join) => join.onRef('oauth_budgets.user_id', '=', 'oauth_codes.user_id').onRef('oauth_budgets.client_id', '=', 'oauth_codes.client_id'))
        .leftJoin('oauth_grants', (join) => join.onRef('oauth_grants.user_id', '=', 'oauth_codes.user_id').onRef('oauth_grants.client_id', '=', 'oauth_codes.client_id'))
        .selectAll('oauth_codes')
        .select(USER_PROFILE)
        .select(JOINED_BUDGET)
        .select(JOINED_GRANT_CHARACTERS);
    this.selectCode = preparedIn((d: Kysely<Database>) => codes(d).where('oauth_codes.code_hash', '=', ''));
    const many = preparedIn((d: Kysely<Database>) => codes(d).where(anyOf('oauth_codes.code_hash')));
    this.batched = lookupByKey(db, (hash) => this.selectCode(db, hash), (hashes) => many(db, hashes), (row) => row.code_hash);
  }

  async create(subject: NewCode, executor: Kysely<Database> = this.db): Promise<string> {
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
        amr: subject.amr ?? null,
        sid: subject.sid ?? null,
        resources: formatAudience(subject.audience ?? EVERY_RESOURCE),
      })
      .execute();
    return code.value;
  }

  /**
   * The code with its user's profile (codes go with their user: the foreign key cascades) and its grant's budget
   * and characters; in the transaction when given one (a redemption reads it in the one that consumes it).
   */
  async find(code: string, executor: Kysely<Database> = this.db): Promise<CodeWithUser | undefined> {
    const hash = credentialKey(code);
    // Outside a transaction, with the redemptions of the same event-loop turn (PostgreSQL).
    return executor === this.db ? this.batched(hash) : (await this.selectCode(executor, hash)).rows[0];
  }
}
