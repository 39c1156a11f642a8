import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** Nullable columns: older versions insert sessions without them and never read them. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * What the Account page's "Signed-in devices" shows of each session (SPEC §11):
 * the browser's User-Agent (truncated), the address it signed in from (as
 * TRUST_PROXY resolves it), and when it was last seen (refreshed at most once a
 * minute, so a request does not cost a write). Sessions started before this
 * have none of them: the page says "unknown" and shows the sign-in time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('sessions').addColumn('user_agent', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('ip', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('last_seen_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['last_seen_at', 'ip', 'user_agent']) await db.schema.alterTable('sessions').dropColumn(column).execute();
}
