import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/**
 * A column with a default: older versions never read it, and one of them releasing a dead instance's slice does not
 * count it here — a newer instance holding a slice then learns of that release at its next extension or renewal
 * (within a minute of use), as it did before this column.
 */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * Budget leases (src/consent/budget-leases.ts): how many times slices of this grant were released as expired.
 * A lease's settlement writes the budget row only, and its UPDATE returns the row as committed when it got the
 * row's lock — so a count that moved since the lease was taken tells, exactly and without a statement of its own,
 * that its slice may be gone (a read of budget_leases in the same statement would see the snapshot from before
 * the lock wait, under PostgreSQL's READ COMMITTED).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // bigint: a row set from now on starts its count at its creation time (budgets.ts), so a row removed and set again
  // never shows a count a slice of the old one saw.
  await db.schema.alterTable('oauth_budgets').addColumn('slices_released', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_budgets').dropColumn('slices_released').execute();
}
