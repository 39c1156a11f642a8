import type { Generated } from 'kysely';

/**
 * Table types shared by both dialects. Times are epoch milliseconds in a
 * 64-bit integer column (read back as numbers on both), booleans are 0/1
 * integers: the two representations SQLite and PostgreSQL store alike.
 */
export interface UsersTable {
  id: string;
  username: string;
  /** Usernames are unique regardless of case (SPEC §1). */
  username_lower: string;
  email: string | null;
  password_hash: string;
  avatar: string | null;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  /** The non-secret start of the key, shown in listings. */
  prefix: string;
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface OAuthClientsTable {
  id: string;
  user_id: string;
  name: string;
  /** JSON array of strings, in the order given. */
  redirect_uris: string;
  /** Space-separated scope names. */
  scopes: string;
  is_public: number;
  secret_hash: string | null;
  created_at: number;
  updated_at: number;
}

export interface Database {
  users: UsersTable;
  api_keys: ApiKeysTable;
  oauth_clients: OAuthClientsTable;
}

export type { Generated };
