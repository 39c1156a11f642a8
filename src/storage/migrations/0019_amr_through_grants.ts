import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** Nullable columns: an older version writes none, and its rows read as a password sign-in. */
export const olderVersions: OlderVersions = COMPATIBLE;

/** SPEC §11: how the user signed in (amr) travels with auth_time, from the authorization request to every ID token. */
const TABLES = ['oauth_pending_requests', 'oauth_codes', 'oauth_tokens', 'oauth_device_codes'];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) await db.schema.alterTable(table).addColumn('amr', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) await db.schema.alterTable(table).dropColumn('amr').execute();
}
