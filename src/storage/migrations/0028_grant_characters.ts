import type { Kysely } from 'kysely';
import type { OlderVersions } from './older-versions.js';

/** Additive, but like 0022 a security downgrade for an older version: it would show an app every character. */
export const olderVersions: OlderVersions = {
  compatible: false,
  breaks: 'a grant may allow only some of the user\'s characters: a version without per-character consent shows the app all of them',
};

/**
 * Per-character consent (SPEC §15): which characters a grant, a sub-agent
 * token and a device request allow. Each column is a JSON array of
 * character ids, or null for every character of the user, new ones too. A
 * deleted character's id may stay in a list: ids are never reused, so it
 * matches nothing, and the next change of the choice drops it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The user's choice on the consent page or the connected-apps card.
  await db.schema.alterTable('oauth_grants').addColumn('characters', 'text').execute();
  // A sub-agent's narrowing at token exchange; null: its grant's choice alone.
  await db.schema.alterTable('oauth_agent_tokens').addColumn('characters', 'text').execute();
  // What the device asked for with authorization_details at device authorization (pre-ticked on /device).
  await db.schema.alterTable('oauth_device_codes').addColumn('characters', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_device_codes').dropColumn('characters').execute();
  await db.schema.alterTable('oauth_agent_tokens').dropColumn('characters').execute();
  await db.schema.alterTable('oauth_grants').dropColumn('characters').execute();
}
