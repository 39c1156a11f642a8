import { SqliteAdapter, type Kysely } from 'kysely';
import { preparedIn } from '../storage/prepared.js';
import type { Database, OAuthTokensTable } from '../storage/schema.js';

/** Every column of a token row, in the order the prepared insert takes them. */
const COLUMNS = ['token_hash', 'kind', 'client_id', 'user_id', 'scopes', 'family_id', 'code_hash', 'created_at', 'expires_at', 'revoked_at', 'consumed_at', 'auth_time', 'resources'] as const satisfies ReadonlyArray<keyof OAuthTokensTable>;
const placeholder = Object.fromEntries(COLUMNS.map((c) => [c, null])) as unknown as OAuthTokensTable;
/** A row's values in the prepared inserts' order. */
const valuesOf = (row: OAuthTokensTable) => COLUMNS.map((c) => row[c]);

/** The columns the two tokens of one issue share. */
export type SharedColumns = Pick<OAuthTokensTable, 'client_id' | 'user_id' | 'family_id' | 'code_hash' | 'created_at' | 'auth_time'>;

/**
 * A token row written out as one literal, so every row has one hidden class
 * (a row spread from the shared part and then extended made V8 build new maps
 * on every issue: 3 % of the token endpoint's main thread in the profile).
 */
export function tokenRow(shared: SharedColumns, token_hash: string, kind: 'access' | 'refresh', scopes: string, expires_at: number, resources: string | null): OAuthTokensTable {
  const { client_id, user_id, family_id, code_hash, created_at, auth_time } = shared;
  return { token_hash, kind, client_id, user_id, scopes, family_id, code_hash, created_at, expires_at, revoked_at: null, consumed_at: null, auth_time, resources };
}

export interface TokenWrites {
  /** Inserts an access token and its refresh token. */
  insertPair(trx: Kysely<Database>, access: OAuthTokensTable, refresh: OAuthTokensTable): Promise<void>;
  /** Marks a code used unless it already was; true when this call used it. */
  consumeCode(trx: Kysely<Database>, codeHash: string, now: number): Promise<boolean>;
  /** Marks a live refresh token used unless it already was or is revoked; true when this call used it. */
  consumeRefresh(trx: Kysely<Database>, tokenHash: string, now: number): Promise<boolean>;
}

/**
 * The statements of every code redemption and refresh rotation, compiled
 * once per database (building and compiling them cost more than running
 * them; the SQL differs between dialects). Each runs on the transaction it is
 * given.
 */
export function tokenWrites(): TokenWrites {
  const insertOne = preparedIn((db: Kysely<Database>) => db.insertInto('oauth_tokens').values(placeholder));
  const insertPair = preparedIn((db: Kysely<Database>) => db.insertInto('oauth_tokens').values([placeholder, placeholder]));
  const consumeCode = preparedIn((db: Kysely<Database>) => db.updateTable('oauth_codes').set({ consumed_at: 0 }).where('code_hash', '=', '').where('consumed_at', 'is', null));
  const consumeRefresh = preparedIn((db: Kysely<Database>) =>
    db.updateTable('oauth_tokens').set({ consumed_at: 0 }).where('token_hash', '=', '').where('consumed_at', 'is', null).where('revoked_at', 'is', null),
  );
  const once = async (result: Promise<{ numAffectedRows?: bigint }>) => Number((await result).numAffectedRows) === 1;
  return {
    async insertPair(trx, access, refresh) {
      // SQLite: two single-row statements, not one of two rows. SQLite gives a statement that writes several rows
      // and may abort (the foreign keys) a statement journal, copying every page it touches first (3 % of the main
      // thread). PostgreSQL: one statement, one round trip.
      if (trx.getExecutor().adapter instanceof SqliteAdapter) {
        await insertOne(trx, ...valuesOf(access));
        await insertOne(trx, ...valuesOf(refresh));
      } else {
        await insertPair(trx, ...valuesOf(access), ...valuesOf(refresh));
      }
    },
    consumeCode: (trx, codeHash, now) => once(consumeCode(trx, now, codeHash)),
    consumeRefresh: (trx, tokenHash, now) => once(consumeRefresh(trx, now, tokenHash)),
  };
}
