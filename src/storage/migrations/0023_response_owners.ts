import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * Who made each upstream response (SPEC §14). Response ids are global at the
 * upstream, which knows one key (Serika's) for every user, so Serika keeps
 * the owner of each id it handed out and forwards GET / DELETE / a
 * previous_response_id only for that owner. Rows go with their user, and are
 * pruned once the upstream no longer keeps the response (30 days).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('response_owners')
    .addColumn('response_id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('client_id', 'text')
    .addColumn('api_key_id', 'text')
    .addColumn('context_tokens', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('response_owners_created').on('response_owners').column('created_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('response_owners').execute();
}
