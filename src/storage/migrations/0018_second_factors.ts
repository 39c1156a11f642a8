import type { Kysely } from 'kysely';
import type { OlderVersions } from './older-versions.js';

/**
 * Breaking, though only additive: an older version would sign in a user who set up a second factor with the
 * password alone — a security downgrade, not a missing feature (a review of issue 34 found it).
 */
export const olderVersions: OlderVersions = {
  compatible: false,
  breaks: 'users may have a second factor: a version without it signs them in with the password alone',
};

/**
 * SPEC §11 second factors: a TOTP secret per user (sealed with KEY_ENCRYPTION_SECRETS), its
 * recovery codes (hashed), the half-sessions between the password and the second step, and
 * how each session was established (RFC 8176 amr values, space-separated; null = "pwd").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('totp_factors')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret', 'text', (c) => c.notNull())
    // Null while being set up: the factor counts once a code confirmed it.
    .addColumn('confirmed_at', 'bigint')
    // RFC 6238 §5.2: the last time step accepted, so a code is accepted once.
    .addColumn('last_used_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('recovery_codes')
    .addColumn('code_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('recovery_codes_user').on('recovery_codes').column('user_id').execute();
  await db.schema
    .createTable('pending_sign_ins')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // What the user proved so far (amr values), and what is asked next: verify a factor, or set one up (MFA=required).
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('return_to', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('amr').execute();
  for (const table of ['pending_sign_ins', 'recovery_codes', 'totp_factors']) await db.schema.dropTable(table).execute();
}
