import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A nullable column, its index and a new table: older versions never name them. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * E-mail verification and password reset (SPEC §11).
 *
 * `users.verified_email_lower` holds the address, lower-cased, once its link
 * was followed, and is cleared when the address changes: its unique index
 * makes verified addresses unique regardless of case, while any number of
 * users may hold the same unverified one (NULLs never collide).
 *
 * `email_links` holds the links' tokens as SHA-256 only: a verification link
 * names the address it verifies, a reset link a stamp of the password hash
 * it was made under, so a changed password kills it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('verified_email_lower', 'text').execute();
  await db.schema.createIndex('users_verified_email_lower').unique().on('users').column('verified_email_lower').execute();
  await db.schema
    .createTable('email_links')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('password_stamp', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('email_links_user').on('email_links').columns(['user_id', 'purpose']).execute();
  await db.schema.createIndex('email_links_expires').on('email_links').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('email_links').execute();
  await db.schema.dropIndex('users_verified_email_lower').execute();
  await db.schema.alterTable('users').dropColumn('verified_email_lower').execute();
}
