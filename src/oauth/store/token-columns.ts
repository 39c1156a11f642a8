import type { OAuthTokensTable } from '../../storage/schema.js';

/** Every column of a token row, in the order the prepared insert takes them. */
export const TOKEN_COLUMNS = ['token_hash', 'kind', 'client_id', 'user_id', 'scopes', 'family_id', 'code_hash', 'created_at', 'expires_at', 'revoked_at', 'consumed_at', 'auth_time', 'resources', 'amr', 'sid'] as const satisfies ReadonlyArray<keyof OAuthTokensTable>;
/** Each column's PostgreSQL type: a VALUES list takes no types from the table it feeds, so its parameters are cast. */
export const TOKEN_COLUMN_TYPES: Record<(typeof TOKEN_COLUMNS)[number], 'text' | 'bigint'> = {
  token_hash: 'text',
  kind: 'text',
  client_id: 'text',
  user_id: 'text',
  scopes: 'text',
  family_id: 'text',
  code_hash: 'text',
  created_at: 'bigint',
  expires_at: 'bigint',
  revoked_at: 'bigint',
  consumed_at: 'bigint',
  auth_time: 'bigint',
  resources: 'text',
  amr: 'text',
  sid: 'text',
};
/** What a new pair of tokens takes the place of: the code it redeems or the refresh token it rotates, by hash. */
export type Consumed = { kind: 'code' | 'refresh'; hash: string };
