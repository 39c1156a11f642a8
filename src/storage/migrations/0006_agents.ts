import { SqliteAdapter, sql, type Kysely } from 'kysely';
import type { OlderVersions } from './older-versions.js';

/**
 * Breaking: oauth_clients.user_id loses its NOT NULL, a guarantee every older
 * reader relied on, and audiences are a security rule older versions would
 * silently drop.
 */
export const olderVersions: OlderVersions = {
  compatible: false,
  breaks: 'clients may have no owner, and tokens are bound to an audience: a version without it takes every client for an owned one and an audience-bound token for good everywhere',
};

/**
 * Agents (SPEC §8): clients without an owner (registered dynamically or
 * known by a client ID metadata document), and the audience (RFC 8707
 * resources) of grants, pending requests, codes and tokens.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await rebuildSqliteClients(db);
  } else {
    await sql`alter table oauth_clients alter column user_id drop not null`.execute(db);
    await db.schema.alterTable('oauth_clients').addColumn('kind', 'text', (c) => c.notNull().defaultTo('owned')).execute();
    await db.schema.alterTable('oauth_clients').addColumn('metadata', 'text').execute();
    await db.schema.alterTable('oauth_clients').addColumn('metadata_expires_at', 'bigint').execute();
    await db.schema.alterTable('oauth_clients').addColumn('last_granted_at', 'bigint').execute();
  }
  // The ownerless clients' clean-up reads them by kind and age.
  await db.schema.createIndex('oauth_clients_kind').on('oauth_clients').columns(['kind', 'created_at']).execute();

  // Space-separated resource paths; null is the origin (every resource), as tokens were before.
  for (const table of ['oauth_grants', 'oauth_pending_requests', 'oauth_codes', 'oauth_tokens']) {
    await db.schema.alterTable(table).addColumn('resources', 'text').execute();
  }
}

/**
 * SQLite cannot drop a NOT NULL constraint in place: the table is rebuilt
 * (sqlite.org/lang_altertable.html §7). migrate.ts turns foreign keys off
 * around migrations, so dropping the old table cascades nothing, and checks
 * them before turning them back on.
 */
async function rebuildSqliteClients(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_clients_new')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('redirect_uris', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('is_public', 'integer', (c) => c.notNull())
    .addColumn('secret_hash', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('id_token_signing_alg', 'text')
    .addColumn('post_logout_redirect_uris', 'text')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('owned'))
    .addColumn('metadata', 'text')
    .addColumn('metadata_expires_at', 'bigint')
    .addColumn('last_granted_at', 'bigint')
    .execute();
  await sql`insert into oauth_clients_new (id, user_id, name, redirect_uris, scopes, is_public, secret_hash, created_at, updated_at, id_token_signing_alg, post_logout_redirect_uris)
    select id, user_id, name, redirect_uris, scopes, is_public, secret_hash, created_at, updated_at, id_token_signing_alg, post_logout_redirect_uris from oauth_clients`.execute(db);
  await db.schema.dropTable('oauth_clients').execute();
  await db.schema.alterTable('oauth_clients_new').renameTo('oauth_clients').execute();
  await db.schema.createIndex('oauth_clients_user_id').on('oauth_clients').columns(['user_id', 'created_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('0006_agents cannot be undone: ownerless clients have nowhere to go');
}
