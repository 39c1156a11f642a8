import { SqliteAdapter, sql, type Kysely } from 'kysely';
import { formatAudience, type Audience } from '../../audiences.js';
import { encodeChoice } from '../../consent/character-choice.js';
import type { Telemetry } from '../../http/telemetry.js';
import { formatScopes } from '../../scopes.js';
import type { Transactor } from '../../storage/group-commit.js';
import { preparedNamed } from '../../storage/prepared.js';
import type { Database } from '../../storage/schema.js';
import { mint } from './credentials.js';
import type { TokenWithUser } from './token-lookup.js';

/** RFC 8693 §4.1: the acting party, the one before it nested inside. */
export interface ActClaim {
  sub: string;
  agent_name?: string;
  act?: ActClaim;
}

export interface NewAgentToken {
  /** The subject token, live and of this client, as the exchange read it. */
  parent: TokenWithUser;
  scopes: string[];
  audience: Audience;
  expiresAt: number;
  agentName: string | null;
  act: ActClaim;
  /** Its narrowing of the grant's characters (SPEC §15), or null: the grant's alone. */
  characters: readonly string[] | null;
  /** Writes what another domain keeps of the new token (its budget row, its audit event) in the same transaction. */
  alongside: (trx: Kysely<Database>, tokenHash: string) => Promise<void>;
}

/** A live sub-agent token as the dashboard lists it. */
export interface LiveAgentToken {
  tokenHash: string;
  clientId: string;
  agentName: string | null;
  depth: number;
  scopes: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * Sub-agent tokens (SPEC §15, RFC 8693): access tokens exchanged for another
 * access token of the same client. Each is a row of oauth_tokens in its
 * parent's family (so revoking the family, the grant, the app or the user
 * ends it like any of the family's tokens) with a row of oauth_agent_tokens
 * naming its parent (so revoking the parent alone ends it too: Revocation).
 */
export class AgentTokens {
  /**
   * The token's insert, made only while its parent is live (one statement): on PostgreSQL the parent's row is
   * held (FOR SHARE) until the commit. Compiled once per database, as the redemption's statements are.
   */
  private readonly insertBelowLive = preparedNamed(
    ['tokenHash', 'clientId', 'userId', 'scopes', 'familyId', 'codeHash', 'now', 'expiresAt', 'authTime', 'resources', 'amr', 'parentHash'],
    (db: Kysely<Database>, p) => {
      const lock = db.getExecutor().adapter instanceof SqliteAdapter ? sql`` : sql` for share`;
      const big = (value: unknown) => sql`cast(${value} as bigint)`;
      const query = sql`insert into oauth_tokens (token_hash, kind, client_id, user_id, scopes, family_id, code_hash, created_at, expires_at, revoked_at, consumed_at, auth_time, resources, amr)
        select ${p.tokenHash}, 'access', ${p.clientId}, ${p.userId}, ${p.scopes}, ${p.familyId}, ${p.codeHash}, ${big(p.now)}, ${big(p.expiresAt)}, null, null, ${big(p.authTime)}, ${p.resources}, ${p.amr}
        where exists (select 1 from oauth_tokens where token_hash = ${p.parentHash} and revoked_at is null and expires_at > ${big(p.now)}${lock})`;
      return { compile: () => query.compile(db) };
    },
  );
  private readonly insertAgent = preparedNamed(['token_hash', 'parent_hash', 'depth', 'agent_name', 'act', 'lineage', 'characters'], (db: Kysely<Database>, p) => db.insertInto('oauth_agent_tokens').values(p));

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly telemetry: Telemetry | null,
    /** Group commit's transactor, as redemptions and rotations use; without it each exchange commits by itself. */
    private readonly transact: Transactor | null,
  ) {}

  /**
   * Issues the token in one transaction, only while the parent is live:
   * PostgreSQL holds the parent's row (FOR SHARE) until the commit, so a
   * revocation of the parent either waits for this child and then finds it,
   * or commits first and this finds the parent revoked; SQLite has one
   * writer. Null when the parent was ended meanwhile (nothing is written).
   */
  async issue(request: NewAgentToken): Promise<{ value: string; hash: string } | null> {
    const { parent } = request;
    const now = this.now();
    const token = mint('access', now);
    const lineage = [token.hash, ...(parent.agent_lineage?.split(' ') ?? [])];
    const transact: Transactor = this.transact ?? ((work) => this.db.transaction().execute(work));
    const issued = await transact(async (trx) => {
      const row = {
        tokenHash: token.hash,
        clientId: parent.client_id,
        userId: parent.user_id,
        scopes: formatScopes(request.scopes),
        familyId: parent.family_id,
        codeHash: parent.code_hash,
        now,
        expiresAt: request.expiresAt,
        authTime: parent.auth_time,
        resources: formatAudience(request.audience),
        amr: parent.amr,
        parentHash: parent.token_hash,
      };
      if (Number((await this.insertBelowLive(trx, row)).numAffectedRows ?? 0) !== 1) return false;
      await this.insertAgent(trx, { token_hash: token.hash, parent_hash: parent.token_hash, depth: (parent.agent_depth ?? 0) + 1, agent_name: request.agentName, act: JSON.stringify(request.act), lineage: lineage.join(' '), characters: encodeChoice(request.characters) });
      await request.alongside(trx, token.hash);
      return true;
    });
    if (!issued) return null;
    this.telemetry?.tokensIssued('token_exchange');
    return token;
  }

  /** The user's live sub-agent tokens, newest first (the connected-apps card). */
  async live(userId: string): Promise<LiveAgentToken[]> {
    const rows = await this.db
      .selectFrom('oauth_tokens')
      .innerJoin('oauth_agent_tokens', 'oauth_agent_tokens.token_hash', 'oauth_tokens.token_hash')
      .select(['oauth_tokens.token_hash', 'oauth_tokens.client_id', 'oauth_tokens.scopes', 'oauth_tokens.created_at', 'oauth_tokens.expires_at', 'oauth_agent_tokens.agent_name', 'oauth_agent_tokens.depth'])
      .where('oauth_tokens.user_id', '=', userId)
      .where('oauth_tokens.revoked_at', 'is', null)
      .where('oauth_tokens.expires_at', '>', this.now())
      .orderBy('oauth_tokens.created_at', 'desc')
      .limit(200)
      .execute();
    return rows.map((r) => ({ tokenHash: r.token_hash, clientId: r.client_id, agentName: r.agent_name, depth: r.depth, scopes: r.scopes, createdAt: r.created_at, expiresAt: r.expires_at }));
  }
}
