import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * The one-time ids of device confirmation pages (SPEC §9): a decision is
 * taken only with the id of the page the user saw, for that user and that
 * device code, once. Stored as SHA-256; they go with their device code.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_device_confirmations')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('device_code_hash', 'text', (c) => c.notNull().references('oauth_device_codes.device_code_hash').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  // A decision deletes the other pages' ids of its code; a deleted device code cascades.
  await db.schema.createIndex('oauth_device_confirmations_device_code').on('oauth_device_confirmations').column('device_code_hash').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oauth_device_confirmations').execute();
}
