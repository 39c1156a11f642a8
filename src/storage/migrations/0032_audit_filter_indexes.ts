import type { Kysely } from 'kysely';
import { createIndexConcurrently } from './concurrent-index.js';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** Indexes only. */
export const olderVersions: OlderVersions = COMPATIBLE;

/** Built concurrently (README.md: audit_events is large), alone. */
export const outsideTransaction = true;

/**
 * The admin console's Audit page filtered by app or by type (SPEC §12, src/audit/search.ts): newest first by
 * (created_at, id), so each filter's first page is a backward range scan of its index that stops after a page.
 * Along audit_events_created alone, a rare type or a quiet app read the table back to its first event.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await createIndexConcurrently(db, 'audit_events_client', 'audit_events', ['client_id', 'created_at', 'id']);
  await createIndexConcurrently(db, 'audit_events_type', 'audit_events', ['type', 'created_at', 'id']);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('audit_events_type').execute();
  await db.schema.dropIndex('audit_events_client').execute();
}
