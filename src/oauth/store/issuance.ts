import type { Kysely } from 'kysely';
import type { Telemetry } from '../../http/telemetry.js';
import type { Transactor } from '../../storage/group-commit.js';
import type { Database } from '../../storage/schema.js';
import { familyOfCode } from './credentials.js';
import { tokenPair, type IssuedTokens, type Lifetimes, type TokenSubject } from './token-pair.js';
import { tokenWrites, type TokenWrites } from './token-writes.js';
import type { TokenRow } from './token-lookup.js';
import type { AuthorizationCodes, CodeWithUser } from './codes.js';

/** What a redemption makes of the code its transaction read: the tokens' subject, or a refusal (never thrown there). */
export type CodeVerdict<E> = { subject: TokenSubject } | { refused: E };

/** A redemption's outcome: its tokens, the refusal, or that the code had been used (a replay). */
export type Redemption<E> = { issued: IssuedTokens; row: CodeWithUser } | { refused: E } | { replayed: CodeWithUser };

/** Issues token pairs: fresh, in place of a code, or in place of a refresh token (rotation). */
export class TokenIssuance {
  private readonly writes: TokenWrites;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly lifetimes: Lifetimes,
    private readonly now: () => number,
    private readonly telemetry: Telemetry | null,
    /** Group commit's transactor for redemptions and rotations; without it each commits by itself. */
    private readonly transact: Transactor | null,
    private readonly codes: AuthorizationCodes,
  ) {
    this.writes = tokenWrites(db);
  }

  /** Inserts an access token and a refresh token of one family. */
  async issue(db: Kysely<Database>, subject: TokenSubject, familyId: string, codeHash: string | null): Promise<IssuedTokens> {
    const { rows, issued } = tokenPair(subject, familyId, codeHash, this.now(), this.lifetimes);
    await this.writes.insertPair(db, ...rows);
    return issued;
  }

  /**
   * Reads the code, judges it and, if the judge allows, consumes it and issues
   * its tokens: with group commit all in the transaction that commits them (a
   * read inside it skips taking SQLite's WAL snapshot again; bench/NOTES.md),
   * so `judge` may run more than once and must have no effect but its answer.
   * The consuming UPDATE is conditional, so of any number of racing
   * redemptions exactly one sees a row change (PostgreSQL re-checks the
   * condition after the row lock; SQLite serialises writers); the others are
   * replays. A code already consumed when read is the judge's to refuse.
   */
  async redeemCode<E>(code: string, judge: (row: CodeWithUser | undefined) => CodeVerdict<E>): Promise<Redemption<E>> {
    const outcome = await this.replacing(async (trx, now): Promise<Redemption<E>> => {
      const row = await this.codes.find(code, trx);
      const verdict = judge(row);
      if ('refused' in verdict) return verdict;
      if (!row) throw new Error('A judge allowed a code that is not there.');
      const { rows, issued } = tokenPair(verdict.subject, familyOfCode(row.code_hash), row.code_hash, now, this.lifetimes);
      return (await this.writes.replace(trx, { kind: 'code', hash: row.code_hash }, now, ...rows)) ? { issued, row } : { replayed: row };
    });
    if ('issued' in outcome) this.telemetry?.tokensIssued('authorization_code');
    return outcome;
  }

  /**
   * RFC 9700 §4.14.2 rotation: consumes the refresh token and issues its
   * successor in the same family, in one transaction. The consuming UPDATE is
   * conditional, so of racing uses exactly one wins; null for the others.
   */
  async rotateRefresh(old: TokenRow, subject: TokenSubject): Promise<IssuedTokens | null> {
    const issued = await this.replacing(async (trx, now) => {
      const { rows, issued } = tokenPair(subject, old.family_id, old.code_hash, now, this.lifetimes);
      return (await this.writes.replace(trx, { kind: 'refresh', hash: old.token_hash }, now, ...rows)) ? issued : null;
    });
    if (issued) this.telemetry?.tokensIssued('refresh_token');
    return issued;
  }

  /** Runs a consume-and-issue: in group commit's transaction, or as one statement, or in a transaction of its own. */
  private replacing<T>(work: (trx: Kysely<Database>, now: number) => Promise<T>): Promise<T> {
    const run = (trx: Kysely<Database>) => work(trx, this.now());
    if (this.transact) return this.transact(run);
    // One statement is a transaction by itself (PostgreSQL): none is opened around it, which saves BEGIN and COMMIT,
    // two of a redemption's five round trips (the code's read is before it, outside).
    return this.writes.isOneStatement(this.db) ? run(this.db) : this.db.transaction().execute(run);
  }
}
