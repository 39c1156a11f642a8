import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** New tables and a nullable column (a version without it does not enforce the limits users set). */
export const olderVersions: OlderVersions = COMPATIBLE;

/** Budgets inside the grant (SPEC §10): one per user × client, with reservations in flight. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_budgets')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('tokens_limit', 'bigint')
    .addColumn('images_limit', 'bigint')
    // day | month (calendar, UTC) | total
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('period_start', 'bigint', (c) => c.notNull())
    .addColumn('tokens_used', 'bigint', (c) => c.notNull())
    .addColumn('images_used', 'bigint', (c) => c.notNull())
    .addColumn('tokens_reserved', 'bigint', (c) => c.notNull())
    .addColumn('images_reserved', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('oauth_budgets_pk', ['user_id', 'client_id'])
    // The budget belongs to the grant: it goes when the grant is revoked.
    .addForeignKeyConstraint('oauth_budgets_grant_fk', ['user_id', 'client_id'], 'oauth_grants', ['user_id', 'client_id'], (fk) => fk.onDelete('cascade'))
    .execute();

  // The largest possible cost of a call in flight, until it settles — or, after a crash, until it expires.
  await db.schema
    .createTable('budget_reservations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('tokens', 'bigint', (c) => c.notNull())
    .addColumn('images', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint('budget_reservations_budget_fk', ['user_id', 'client_id'], 'oauth_budgets', ['user_id', 'client_id'], (fk) => fk.onDelete('cascade'))
    .execute();
  // The limit a device asked for (RFC 9396 at device authorization), shown on /device: JSON, or null.
  await db.schema.alterTable('oauth_device_codes').addColumn('budget', 'text').execute();

  await db.schema.createIndex('budget_reservations_grant').on('budget_reservations').columns(['user_id', 'client_id', 'expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_reservations').execute();
  await db.schema.dropTable('oauth_budgets').execute();
}
