import type { Kysely } from 'kysely';
import type { Database, UsersTable } from '../storage/schema.js';
import { usernameKey } from './usernames.js';
import { prepared } from '../storage/prepared.js';
import type { InvalidationFeed } from '../storage/invalidations.js';

export type UserRow = UsersTable;

export class UsersRepo {
  private readonly selectById;

  /** feed: a deleted user's tokens go by cascade, so caches must hear of it. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly feed: InvalidationFeed | null = null,
  ) {
    this.selectById = prepared(db, (d) => d.selectFrom('users').selectAll().where('id', '=', ''));
  }

  async insert(row: UserRow, executor: Kysely<Database> = this.db): Promise<void> {
    await executor.insertInto('users').values(row).execute();
  }

  /** The user whose verified address this is, regardless of case (SPEC §11: unique among verified ones). */
  async findByVerifiedEmail(emailLower: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('verified_email_lower', '=', emailLower).executeTakeFirst();
  }

  async findByUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username_lower', '=', usernameKey(username)).executeTakeFirst();
  }

  async updatePassword(id: string, passwordHash: string, now: number): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', id).execute();
  }

  /** `before`: what must happen in the deletion's transaction first (SPEC §13: user.deleted to the apps the user allowed). */
  async delete(id: string, before?: (trx: Kysely<Database>) => Promise<void>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await before?.(trx);
      const result = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      if (Number(result.numDeletedRows) > 0) await this.feed?.record(trx, [{ kind: 'user', key: id }]);
    });
  }

  async findById(id: string): Promise<UserRow | undefined> {
    return (await this.selectById(id)).rows[0];
  }
}
