import { SqliteAdapter, type Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** Nullable columns and new tables: older versions never name them (they would not refuse a suspended app, though). */
export const olderVersions: OlderVersions = COMPATIBLE;

const CLIENT_COLUMNS = ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'contacts', 'logo_fetched_at', 'logo_problem', 'verified_at', 'verified_by', 'suspended_at', 'suspended_by'] as const;

/**
 * Apps people can trust (SPEC §12): a client's branding (RFC 7591 §2
 * fields), the operator's verification and suspension, the logo Serika
 * fetched once and serves from its own origin, and each client's recent
 * OAuth errors (a per-client ring the recorder prunes to 100).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  for (const column of CLIENT_COLUMNS) {
    const type = column.endsWith('_at') ? 'bigint' : 'text';
    await db.schema.alterTable('oauth_clients').addColumn(column, type).execute();
  }

  await db.schema
    .createTable('client_logos')
    .addColumn('client_id', 'text', (c) => c.primaryKey().references('oauth_clients.id').onDelete('cascade'))
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('bytes', sqlite ? 'blob' : 'bytea', (c) => c.notNull())
    .addColumn('fetched_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('client_errors')
    .addColumn('id', sqlite ? 'integer' : 'bigserial', (c) => (sqlite ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('client_id', 'text', (c) => c.notNull().references('oauth_clients.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull())
    .addColumn('error_description', 'text')
    .addColumn('redirect_uri', 'text')
    .execute();
  await db.schema.createIndex('client_errors_client').on('client_errors').columns(['client_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('client_errors').execute();
  await db.schema.dropTable('client_logos').execute();
  for (const column of CLIENT_COLUMNS) await db.schema.alterTable('oauth_clients').dropColumn(column).execute();
}
