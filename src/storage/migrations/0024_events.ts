import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** New tables and nullable columns: older versions write none of them, and never read them. */
export const olderVersions: OlderVersions = COMPATIBLE;

/** SPEC §13: sid travels from the session, beside amr, to every ID token of the sign-in (refreshes too). */
const SID_TABLES = ['oauth_pending_requests', 'oauth_codes', 'oauth_tokens'];

/**
 * Events to apps (SPEC §13). Clients gain a webhook (URL, the event types it
 * wants, its signing secret sealed like TOTP secrets) and a back-channel
 * logout URI. Sessions gain `sid`, a stable random id that ID tokens carry
 * (never the cookie's id); `session_clients` records which app got an ID
 * token in which session. `event_outbox` holds webhooks and logout tokens,
 * written in the transaction of the change (pending → sending, claimed until
 * `claimed_until` → delivered, or pending again later, or failed), and
 * `event_attempts` every try with its answer, for the dashboard.
 * `budget_notices` makes a threshold's event once per period.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_clients').addColumn('webhook_url', 'text').execute();
  await db.schema.alterTable('oauth_clients').addColumn('webhook_events', 'text').execute();
  await db.schema.alterTable('oauth_clients').addColumn('webhook_secret', 'text').execute();
  await db.schema.alterTable('oauth_clients').addColumn('backchannel_logout_uri', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('sid', 'text').execute();
  for (const table of SID_TABLES) await db.schema.alterTable(table).addColumn('sid', 'text').execute();
  await db.schema
    .createTable('session_clients')
    .addColumn('sid', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('session_clients_pk', ['sid', 'client_id'])
    .execute();
  // No foreign keys: an event outlives its client or user (user.deleted), and is dropped at delivery if its client went.
  await db.schema
    .createTable('event_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_until', 'bigint')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    .execute();
  await db.schema.createIndex('event_outbox_due').on('event_outbox').columns(['state', 'next_attempt_at']).execute();
  await db.schema.createIndex('event_outbox_client').on('event_outbox').columns(['client_id', 'created_at']).execute();
  await db.schema
    .createTable('event_attempts')
    .addColumn('event_id', 'text', (c) => c.notNull().references('event_outbox.id').onDelete('cascade'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('event_attempts_pk', ['event_id', 'attempt'])
    .execute();
  await db.schema
    .createTable('budget_notices')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'bigint', (c) => c.notNull())
    .addColumn('percent', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('budget_notices_pk', ['user_id', 'client_id', 'period_start', 'percent'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_notices').execute();
  await db.schema.dropTable('event_attempts').execute();
  await db.schema.dropTable('event_outbox').execute();
  await db.schema.dropTable('session_clients').execute();
  for (const table of SID_TABLES) await db.schema.alterTable(table).dropColumn('sid').execute();
  await db.schema.alterTable('sessions').dropColumn('sid').execute();
  for (const column of ['backchannel_logout_uri', 'webhook_secret', 'webhook_events', 'webhook_url']) await db.schema.alterTable('oauth_clients').dropColumn(column).execute();
}
