import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A column with a default: older versions insert half-sessions without it and never read it. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * Wrong second-step codes per half-session (SPEC §11): counted atomically, and
 * the half-session ends at the fifth, so a password alone buys a handful of
 * guesses, not unlimited ones.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('pending_sign_ins').addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('pending_sign_ins').dropColumn('failures').execute();
}
