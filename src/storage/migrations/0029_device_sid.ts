import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A nullable column: older versions write none and never read it; their device codes' ID tokens simply carry no sid. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * SPEC §13: ID tokens carry `sid`. A device code approved on the device page
 * keeps the approving session's sid, beside its auth_time and amr, for the
 * ID token (and its refreshes) the device gets, so that session's ending
 * reaches the app by back-channel logout as a code's does.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_device_codes').addColumn('sid', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_device_codes').dropColumn('sid').execute();
}
