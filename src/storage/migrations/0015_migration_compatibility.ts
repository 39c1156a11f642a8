import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * What each applied migration leaves for older versions (older-versions.ts),
 * written in the migration's own run (migrate.ts). A version started on a
 * database that a newer one migrated finds the migrations it does not know
 * here, and starts or refuses by what they recorded: the only place it can
 * learn about migrations written after it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('migration_compatibility')
    .addColumn('name', 'text', (c) => c.primaryKey())
    // 1: a version without this migration runs on the schema it leaves.
    .addColumn('compatible_with_older', 'integer', (c) => c.notNull())
    // When not compatible: versions that have this (earlier) migration still run.
    .addColumn('unless_they_have', 'text')
    // When not compatible: what an older version would get wrong.
    .addColumn('breaks', 'text')
    .addColumn('recorded_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('migration_compatibility').execute();
}
