import type { Kysely } from 'kysely';
import { preparedIn } from '../storage/prepared.js';
import type { Database, OAuthTokensTable } from '../storage/schema.js';

/** Every column of a token row, in the order the prepared insert takes them. */
const COLUMNS = ['token_hash', 'kind', 'client_id', 'user_id', 'scopes', 'family_id', 'code_hash', 'created_at', 'expires_at', 'revoked_at', 'consumed_at', 'auth_time', 'resources'] as const satisfies ReadonlyArray<keyof OAuthTokensTable>;
const placeholder = Object.fromEntries(COLUMNS.map((c) => [c, null])) as unknown as OAuthTokensTable;

export interface TokenWrites {
  /** Inserts an access token and its refresh token in one statement. */
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
  const insertPair = preparedIn((db: Kysely<Database>) => db.insertInto('oauth_tokens').values([placeholder, placeholder]));
  const consumeCode = preparedIn((db: Kysely<Database>) => db.updateTable('oauth_codes').set({ consumed_at: 0 }).where('code_hash', '=', '').where('consumed_at', 'is', null));
  const consumeRefresh = preparedIn((db: Kysely<Database>) =>
    db.updateTable('oauth_tokens').set({ consumed_at: 0 }).where('token_hash', '=', '').where('consumed_at', 'is', null).where('revoked_at', 'is', null),
  );
  const once = async (result: Promise<{ numAffectedRows?: bigint }>) => Number((await result).numAffectedRows) === 1;
  return {
    async insertPair(trx, access, refresh) {
      const parameters: unknown[] = [];
      for (const row of [access, refresh]) for (const column of COLUMNS) parameters.push(row[column]);
      await insertPair(trx, ...parameters);
    },
    consumeCode: (trx, codeHash, now) => once(consumeCode(trx, now, codeHash)),
    consumeRefresh: (trx, tokenHash, now) => once(consumeRefresh(trx, now, tokenHash)),
  };
}
