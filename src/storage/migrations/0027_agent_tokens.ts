import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/**
 * New tables only. A version without them serves sub-agent tokens as the plain access tokens they also are
 * (their rows are in oauth_tokens, in their parent's family), but does not end them with their parent token
 * alone, nor count their spending against their own cap.
 */
export const olderVersions: OlderVersions = COMPATIBLE;

/** Sub-agent tokens (SPEC §15, RFC 8693 token exchange): who acts, below which token, with what cap. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_agent_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey().references('oauth_tokens.token_hash').onDelete('cascade'))
    // The subject token it was exchanged for: revoking that one ends this one (and what was exchanged below it).
    .addColumn('parent_hash', 'text', (c) => c.notNull().references('oauth_tokens.token_hash').onDelete('cascade'))
    // 1 below the user's token, at most 3.
    .addColumn('depth', 'integer', (c) => c.notNull())
    .addColumn('agent_name', 'text')
    // RFC 8693 §4.1's act claim, nested per level, as JSON.
    .addColumn('act', 'text', (c) => c.notNull())
    // This token's hash and its sub-agent ancestors', space-separated, leaf first: whose caps one call counts in.
    .addColumn('lineage', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('oauth_agent_tokens_parent').on('oauth_agent_tokens').column('parent_hash').execute();

  // A sub-agent's own cap and spending; every call of it counts here, in its ancestors' rows and in the grant's budget.
  await db.schema
    .createTable('agent_budgets')
    .addColumn('token_hash', 'text', (c) => c.primaryKey().references('oauth_tokens.token_hash').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('tokens_limit', 'bigint')
    .addColumn('images_limit', 'bigint')
    .addColumn('tokens_used', 'bigint', (c) => c.notNull())
    .addColumn('images_used', 'bigint', (c) => c.notNull())
    .addColumn('tokens_reserved', 'bigint', (c) => c.notNull())
    .addColumn('images_reserved', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('agent_budgets_grant').on('agent_budgets').columns(['user_id', 'client_id']).execute();

  await db.schema
    .createTable('agent_reservations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().references('agent_budgets.token_hash').onDelete('cascade'))
    .addColumn('chain', 'text', (c) => c.notNull())
    .addColumn('tokens', 'bigint', (c) => c.notNull())
    .addColumn('images', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('agent_reservations_expiry').on('agent_reservations').columns(['expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('agent_reservations').execute();
  await db.schema.dropTable('agent_budgets').execute();
  await db.schema.dropTable('oauth_agent_tokens').execute();
}
