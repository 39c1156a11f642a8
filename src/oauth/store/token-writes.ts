import { SqliteAdapter, sql, type Kysely, type RawBuilder } from 'kysely';
import { preparedIn, preparedRaw } from '../../storage/prepared.js';
import type { Database, OAuthTokensTable } from '../../storage/schema.js';
import { ReplaceBatches, type Replacement } from './replace-batches.js';
import { TOKEN_COLUMNS, TOKEN_COLUMN_TYPES, type Consumed } from './token-columns.js';

/** A row's values in the prepared inserts' order. */
const valuesOf = (row: OAuthTokensTable) => TOKEN_COLUMNS.map((c) => row[c]);
const placeholder = Object.fromEntries(TOKEN_COLUMNS.map((c) => [c, null])) as unknown as OAuthTokensTable;

/** The columns the two tokens of one issue share. */
export type SharedColumns = Pick<OAuthTokensTable, 'client_id' | 'user_id' | 'family_id' | 'code_hash' | 'created_at' | 'auth_time' | 'amr' | 'sid'>;

/** A token row written out as one literal, not spread and extended, so every row has one hidden class (bench/NOTES.md). */
export function tokenRow(shared: SharedColumns, token_hash: string, kind: 'access' | 'refresh', scopes: string, expires_at: number, resources: string | null): OAuthTokensTable {
  const { client_id, user_id, family_id, code_hash, created_at, auth_time, amr, sid } = shared;
  return { token_hash, kind, client_id, user_id, scopes, family_id, code_hash, created_at, expires_at, revoked_at: null, consumed_at: null, auth_time, resources, amr, sid };
}

export interface TokenWrites {
  /** Inserts an access token and its refresh token, if one is issued. */
  insertPair(trx: Kysely<Database>, access: OAuthTokensTable, refresh?: OAuthTokensTable): Promise<void>;
  /**
   * Marks the code (or the live refresh token) used unless it already was,
   * and inserts the tokens issued in its place (the access token alone for a
   * client without the refresh_token grant); false, and nothing written,
   * when it was used already (or the refresh token revoked).
   */
  replace(trx: Kysely<Database>, consumed: Consumed, now: number, access: OAuthTokensTable, refresh?: OAuthTokensTable): Promise<boolean>;
  /** True where `replace` is one statement (PostgreSQL), which is atomic without a transaction around it. */
  isOneStatement(db: Kysely<Database>): boolean;
}

/**
 * The statements of every code redemption and refresh rotation, compiled
 * once per database (building and compiling them cost more than running
 * them; the SQL differs between dialects). Each runs on the transaction it is
 * given; on PostgreSQL a `replace` outside any transaction runs on `db` in a
 * batch (replace-batches.ts).
 */
export function tokenWrites(db: Kysely<Database>): TokenWrites {
  const insertOne = preparedIn((db: Kysely<Database>) => db.insertInto('oauth_tokens').values(placeholder));
  const insertPair = preparedIn((db: Kysely<Database>) => db.insertInto('oauth_tokens').values([placeholder, placeholder]));
  // The conditional UPDATE that uses a code or a live refresh token: of racing uses exactly one changes a row.
  const consuming = {
    code: sql`update oauth_codes set consumed_at = ${0} where code_hash = ${''} and consumed_at is null`,
    refresh: sql`update oauth_tokens set consumed_at = ${0} where token_hash = ${''} and consumed_at is null and revoked_at is null`,
  };
  // PostgreSQL: the consuming UPDATE and the INSERT in one statement; the INSERT's rows are crossed with the UPDATE's,
  // so they are written only when the UPDATE changed a row. One round trip, and a transaction by itself.
  const columns = sql.join(TOKEN_COLUMNS.map((c) => sql.ref(c)));
  const values = () => sql`(${sql.join(TOKEN_COLUMNS.map((c) => sql`${null}::${sql.raw(TOKEN_COLUMN_TYPES[c])}`))})`;
  const andInsert = (consume: RawBuilder<unknown>, rows: 1 | 2) =>
    sql`with consumed as (${consume} returning 1) insert into oauth_tokens (${columns}) select v.* from (values ${sql.join(rows === 2 ? [values(), values()] : [values()])}) as v (${columns}) cross join consumed`;
  const compiled = preparedRaw<Database, unknown>;
  const consume = { code: compiled(consuming.code), refresh: compiled(consuming.refresh) };
  const consumeAndInsert = { code: compiled(andInsert(consuming.code, 2)), refresh: compiled(andInsert(consuming.refresh, 2)) };
  // For a client without the refresh_token grant: the access token alone.
  const consumeAndInsertAccess = { code: compiled(andInsert(consuming.code, 1)), refresh: compiled(andInsert(consuming.refresh, 1)) };
  const isSqlite = (db: Kysely<Database>) => db.getExecutor().adapter instanceof SqliteAdapter;
  const insertPairWith = async (trx: Kysely<Database>, access: OAuthTokensTable, refresh?: OAuthTokensTable) => {
    // SQLite: two single-row statements, since a multi-row one that may abort (the foreign keys) gets a statement
    // journal (bench/NOTES.md). PostgreSQL: one statement, one round trip.
    if (isSqlite(trx) || !refresh) {
      await insertOne(trx, ...valuesOf(access));
      if (refresh) await insertOne(trx, ...valuesOf(refresh));
    } else {
      await insertPair(trx, ...valuesOf(access), ...valuesOf(refresh));
    }
  };
  // PostgreSQL, one item's statement: in a transaction (group commit), and for an item a batch could not write.
  const alone = async (trx: Kysely<Database>, { consumed, now, rows: [access, refresh] }: Replacement) => {
    if (!refresh) return Number((await consumeAndInsertAccess[consumed.kind](trx, now, consumed.hash, ...valuesOf(access!))).numAffectedRows) === 1;
    return Number((await consumeAndInsert[consumed.kind](trx, now, consumed.hash, ...valuesOf(access!), ...valuesOf(refresh))).numAffectedRows) === 2;
  };
  const batches = isSqlite(db) ? null : { code: new ReplaceBatches(db, 'code', alone), refresh: new ReplaceBatches(db, 'refresh', alone) };
  return {
    insertPair: insertPairWith,
    async replace(trx, consumed, now, access, refresh) {
      if (batches) {
        const rows = refresh ? [access, refresh] : [access];
        // Outside a transaction, with the other redemptions (or rotations) of the same event-loop turn.
        return trx.isTransaction ? alone(trx, { consumed, now, rows }) : batches[consumed.kind].replace(consumed, now, rows);
      }
      const used = Number((await consume[consumed.kind](trx, now, consumed.hash)).numAffectedRows) === 1;
      if (used) await insertPairWith(trx, access, refresh);
      return used;
    },
    isOneStatement: (db) => !isSqlite(db),
  };
}
