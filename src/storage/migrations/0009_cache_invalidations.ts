import { SqliteAdapter, type Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * The invalidation outbox: every change that ends a token writes a row here in
 * its own transaction, and every process reads the rows in id order to evict
 * what it cached (storage/invalidations.ts). Rows live an hour.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  await db.schema
    .createTable('cache_invalidations')
    .addColumn('id', sqlite ? 'integer' : 'bigserial', (c) => (sqlite ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('cache_invalidations').execute();
}
