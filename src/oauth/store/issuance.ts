import type { Kysely } from 'kysely';
import type { Telemetry } from '../../http/telemetry.js';
import type { Transactor } from '../../storage/group-commit.js';
import type { Database } from '../../storage/schema.js';
import { familyOfCode } from './credentials.js';
import { tokenPair, type IssuedTokens, type Lifetimes, type TokenSubject } from './token-pair.js';
import { tokenWrites, type Consumed, type TokenWrites } from './token-writes.js';
import type { TokenRow } from './token-lookup.js';

/** Issues token pairs: fresh, in place of a code, or in place of a refresh token (rotation). */
export class TokenIssuance {
  private readonly writes: TokenWrites = tokenWrites();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly lifetimes: Lifetimes,
    private readonly now: () => number,
    private readonly telemetry: Telemetry | null,
    /** Group commit's transactor for redemptions and rotations; without it each commits by itself. */
    private readonly transact: Transactor | null,
  ) {}

  /** Inserts an access token and a refresh token of one family. */
  async issue(db: Kysely<Database>, subject: TokenSubject, familyId: string, codeHash: string | null): Promise<IssuedTokens> {
    const { rows, issued } = tokenPair(subject, familyId, codeHash, this.now(), this.lifetimes);
    await this.writes.insertPair(db, ...rows);
    return issued;
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
