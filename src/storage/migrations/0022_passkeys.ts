import type { Kysely } from 'kysely';
import type { OlderVersions } from './older-versions.js';

/** Additive, but like 0018 a security downgrade for an older version: it would not know passkeys are a second factor. */
export const olderVersions: OlderVersions = {
  compatible: false,
  breaks: 'users may have a passkey as their second factor: a version without passkeys signs them in with the password alone',
};

/**
 * SPEC §11 passkeys (WebAuthn): each user's credentials, and the challenges of
 * ceremonies under way, kept in the database (not in one instance's memory) so
 * the options and the answer may reach different instances.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webauthn_credentials')
    // The credential id as the authenticator gave it, base64url (WebAuthn §5.1 rawId).
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    // The COSE public key, base64url (WebAuthn §6.5.1.1 credentialPublicKey).
    .addColumn('public_key', 'text', (c) => c.notNull())
    // WebAuthn §6.1.1 signature counter: a lower one than stored signals a cloned authenticator.
    .addColumn('counter', 'bigint', (c) => c.notNull())
    // Space-separated AuthenticatorTransport values, hints for the browser; null when none were given.
    .addColumn('transports', 'text')
    // WebAuthn §6.1 flags BE and BS: whether the key can be synced, and whether it is.
    .addColumn('multi_device', 'integer', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('webauthn_credentials_user').on('webauthn_credentials').column('user_id').execute();
  await db.schema
    .createTable('webauthn_challenges')
    // SHA-256 of the challenge: taken (deleted) once, by the answer that carries it.
    .addColumn('challenge_hash', 'text', (c) => c.primaryKey())
    // What it was made for (register, sign_in, second_step) and the browser it was given to.
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('binding', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['webauthn_challenges', 'webauthn_credentials']) await db.schema.dropTable(table).execute();
}
