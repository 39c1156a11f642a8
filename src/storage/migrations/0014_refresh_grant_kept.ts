import { sql, type Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/** Data only: the refresh grant every client had already. */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * Until the token endpoint checked `refresh_token` as a grant (clients/rules.ts mayUseGrant),
 * every client got refresh tokens whatever its grant types said, and registration without
 * `grant_types` stored RFC 7591's default, `authorization_code` alone. So every client made
 * before this has used refresh tokens: it keeps the grant, and no app in production loses its
 * refresh tokens with an upgrade. Clients made from now on get what they registered.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`update oauth_clients set grant_types = grant_types || ' refresh_token'
    where grant_types is not null and (' ' || grant_types || ' ') not like '% refresh_token %'`.execute(db);
}

/** Nothing to undo: the grant was in effect before this migration too. */
export async function down(): Promise<void> {}
