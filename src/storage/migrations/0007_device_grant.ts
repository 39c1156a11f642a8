import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table and nullable columns (a version without it lets clients use the grants it knew). */
export const olderVersions: OlderVersions = COMPATIBLE;

/** The device authorization grant (RFC 8628, SPEC §9). */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Space-separated grant types a client may use; null is the default (authorization_code refresh_token).
  await db.schema.alterTable('oauth_clients').addColumn('grant_types', 'text').execute();
  // When the user last allowed the app through /device ("signed in from a device" on the dashboard).
  await db.schema.alterTable('oauth_grants').addColumn('device_at', 'bigint').execute();

  await db.schema
    .createTable('oauth_device_codes')
    .addColumn('device_code_hash', 'text', (c) => c.primaryKey())
    // Unique among stored codes; an expired one is removed before its user code is given again.
    .addColumn('user_code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('client_id', 'text', (c) => c.notNull().references('oauth_clients.id').onDelete('cascade'))
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('resources', 'text')
    // pending → approved | denied → consumed (tokens issued once).
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('auth_time', 'bigint')
    .addColumn('interval_s', 'integer', (c) => c.notNull())
    .addColumn('last_polled_at', 'bigint')
    .addColumn('request_ip', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('oauth_device_codes_expires_at').on('oauth_device_codes').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oauth_device_codes').execute();
}
