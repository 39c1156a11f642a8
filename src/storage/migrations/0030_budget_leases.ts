import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/**
 * A new table only. A version without it counts an instance's outstanding slice as reserved (it is, in
 * oauth_budgets.tokens_reserved), so it never spends it, but it does not release the slice of an instance
 * that died: a newer instance does, once the slice expires.
 */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * Budget leases (SPEC §10, src/consent/budget-leases.ts): the slice of a grant's budget one instance holds
 * for its calls in flight, counted in the budget row's reserved columns until it is settled, returned or,
 * after a crash, expired.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('budget_leases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    // What of the slice is still reserved on the budget row: taken, less what its calls settled.
    .addColumn('tokens', 'bigint', (c) => c.notNull())
    .addColumn('images', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint('budget_leases_budget_fk', ['user_id', 'client_id'], 'oauth_budgets', ['user_id', 'client_id'], (fk) => fk.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('budget_leases_grant').on('budget_leases').columns(['user_id', 'client_id', 'expires_at']).execute();
  await db.schema.createIndex('budget_leases_expiry').on('budget_leases').columns(['expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_leases').execute();
}
