import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table and nullable columns. */
export const olderVersions: OlderVersions = COMPATIBLE;

export async function up(db: Kysely<unknown>): Promise<void> {
  // ID token signing keys, shared by every instance (SPEC §7). A key is published from its
  // creation, signs from activates_at, and retires when a newer key of its alg activates.
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('activates_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('signing_keys_alg').on('signing_keys').columns(['alg', 'activates_at']).execute();

  // What an ID token needs to remember from the authorization request to the token response.
  for (const table of ['oauth_pending_requests', 'oauth_codes']) {
    await db.schema.alterTable(table).addColumn('nonce', 'text').execute();
  }
  await db.schema.alterTable('oauth_pending_requests').addColumn('auth_time', 'bigint').execute();
  await db.schema.alterTable('oauth_codes').addColumn('auth_time', 'bigint').execute();
  await db.schema.alterTable('oauth_tokens').addColumn('auth_time', 'bigint').execute();

  await db.schema.alterTable('oauth_clients').addColumn('id_token_signing_alg', 'text').execute();
  await db.schema.alterTable('oauth_clients').addColumn('post_logout_redirect_uris', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('signing_keys').execute();
}
