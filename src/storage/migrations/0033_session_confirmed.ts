import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A nullable column: older versions never write or read it; their sessions count as confirmed at sign-in only. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * SPEC §11 account changes without an extra password prompt for a fresh session ("sudo mode", like GitHub's):
 * when the session's user last gave their password or a current code again to go on with such a change.
 * Apart from reauth_at (SPEC §12's admin check), which this never satisfies.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('confirmed_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('confirmed_at').execute();
}
