import type { Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** A new table. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * The mail outbox (SPEC §11): a message is a row written in the transaction
 * of the change it tells of, and sent later by a worker of any instance, so
 * no request waits on the SMTP server and no message is lost or sent for a
 * change that rolled back. `state`: pending → sending (claimed until
 * `claimed_until`) → sent, or back to pending with a later `next_attempt_at`,
 * or failed (kept, with `last_error`). The bodies are cleared once the
 * message is sent or given up: they hold live links.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mail_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text_body', 'text', (c) => c.notNull())
    .addColumn('html_body', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_until', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .execute();
  await db.schema.createIndex('mail_outbox_due').on('mail_outbox').columns(['state', 'next_attempt_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('mail_outbox').execute();
}
