import type { Kysely } from 'kysely';
import type { ApiKeysTable, Database, Role } from '../../storage/schema.js';

export type ApiKeyRow = ApiKeysTable;

export interface ApiKeyOwner {
  keyId: string;
  keyHash: string;
  lastUsedAt: number | null;
  userId: string;
  username: string;
  role: Role;
}

export class ApiKeysRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: ApiKeyRow): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  async listForUser(userId: string): Promise<ApiKeyRow[]> {
    return this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  /** One indexed lookup on the unique hash; revoked keys never match. */
  async findActiveByHash(keyHash: string): Promise<ApiKeyOwner | undefined> {
    return this.db
      .selectFrom('api_keys')
      .innerJoin('users', 'users.id', 'api_keys.user_id')
      .select([
        'api_keys.id as keyId',
        'api_keys.key_hash as keyHash',
        'api_keys.last_used_at as lastUsedAt',
        'users.id as userId',
        'users.username as username',
        'users.role as role',
      ])
      .where('api_keys.key_hash', '=', keyHash)
      .where('api_keys.revoked_at', 'is', null)
      // SPEC §12: a suspended user's keys are dead while they are suspended (read each request: never cached).
      .where('users.suspended_at', 'is', null)
      .executeTakeFirst();
  }

  /**
   * Records use at most once per interval: the condition lives in the UPDATE,
   * so concurrent requests (and other instances) write it once between them.
   */
  async touch(keyId: string, now: number, intervalMs: number): Promise<void> {
    await this.db
      .updateTable('api_keys')
      .set({ last_used_at: now })
      .where('id', '=', keyId)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', now - intervalMs)]))
      .execute();
  }

  /** Revokes the user's active keys with this ID or display prefix; returns how many. */
  async revoke(userId: string, by: 'id' | 'prefix', value: string, now: number): Promise<number> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where(by, '=', value)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}
