import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** An index. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * The pruner deletes audit events older than AUDIT_RETENTION_DAYS a batch at
 * a time (pruner.ts); each batch finds the oldest rows by this index instead
 * of scanning the whole table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('audit_events_created').on('audit_events').column('created_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('audit_events_created').execute();
}
