import { sql, type Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** Renamed families and a dropped index: a version without it still finds a replayed code's tokens by code_hash, only without the index. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * A code's tokens form one family, named after the code (oauth/store/,
 * familyOfCode), so a replayed code finds them through the family index and
 * the token table loses its index on code_hash: one B-tree insert, and on
 * SQLite one WAL page, fewer for every code redemption. Families made before
 * this had random names; each belonged to exactly one code, so renaming them
 * keeps every family whole.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`update oauth_tokens set family_id = 'fam_' || substr(code_hash, 1, 32) where code_hash is not null`.execute(db);
  await db.schema.dropIndex('oauth_tokens_code_hash').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('oauth_tokens_code_hash').on('oauth_tokens').column('code_hash').execute();
}
