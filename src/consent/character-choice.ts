import { sql } from 'kysely';
import { InvalidAuthorizationDetails } from './budget-rules.js';

/**
 * Which of the user's characters an app may see (SPEC §15): a list of ids
 * ("Only these"), or null for every character, new ones too ("All my
 * characters"). A grant holds one; a sub-agent token may hold a narrower one.
 */
export type CharacterChoice = readonly string[] | null;

export const CHARACTERS_TYPE = 'serika_characters';
/** Far more characters than a consent page lists; details are at most 4096 characters anyway. */
const MAX_IDS = 200;
/** A character id as Serika makes them (char_ and hex), with room: anything else cannot name one. */
const ID_SYNTAX = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * One serika_characters entry of RFC 9396 details: `ids`, an array of
 * character ids (repeats counted once). Other members are left alone, as
 * serika_budget leaves them (RFC 9396 §2 common fields). Throws
 * InvalidAuthorizationDetails.
 */
export function readCharactersEntry(fields: Record<string, unknown>): readonly string[] {
  const ids = fields.ids;
  if (!Array.isArray(ids)) throw new InvalidAuthorizationDetails(`${CHARACTERS_TYPE}.ids must be an array of character ids.`);
  if (ids.length > MAX_IDS) throw new InvalidAuthorizationDetails(`${CHARACTERS_TYPE}.ids may name at most ${MAX_IDS} characters.`);
  for (const id of ids) {
    if (typeof id !== 'string' || !ID_SYNTAX.test(id)) throw new InvalidAuthorizationDetails(`${CHARACTERS_TYPE}.ids must hold character ids (strings such as char_…).`);
  }
  return Object.freeze([...new Set(ids as string[])]);
}

/** The choice as RFC 9396 details (token response, introspection): no entry for "all", which restricts nothing. */
export function charactersDetailsOf(choice: CharacterChoice): Array<Record<string, unknown>> {
  return choice === null ? [] : [{ type: CHARACTERS_TYPE, ids: [...choice] }];
}

/** The stored column (a JSON array, or null for all). */
export function encodeChoice(choice: CharacterChoice): string | null {
  return choice === null ? null : JSON.stringify(choice);
}

export function decodeChoice(column: string | null): CharacterChoice {
  return column === null ? null : Object.freeze(JSON.parse(column) as string[]);
}

/** What a token may see: its grant's choice, narrowed by a sub-agent's own (each of which lies within its parent's). */
export function effectiveChoice(grant: CharacterChoice, own: CharacterChoice): CharacterChoice {
  if (own === null) return grant;
  if (grant === null) return own;
  return Object.freeze(own.filter((id) => grant.includes(id)));
}

/** Whether a choice lets an app see the character. */
function allows(choice: CharacterChoice, id: string): boolean {
  return choice === null || choice.includes(id);
}

/**
 * SPEC §15's narrowing of characters at token exchange: every id asked must
 * be one the subject token may see (a parent with "all" may name any).
 * Returns why it is wider, or null.
 */
export function charactersWiderThan(asked: readonly string[], parent: CharacterChoice): string | null {
  const outside = asked.filter((id) => !allows(parent, id));
  return outside.length === 0 ? null : `${CHARACTERS_TYPE}.ids names ${outside.length === 1 ? 'a character' : 'characters'} the subject token may not see (${outside.slice(0, 3).join(', ')}).`;
}

/** Whether two choices allow the same characters (a change worth recording). */
export function sameChoice(a: CharacterChoice, b: CharacterChoice): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((id) => b.includes(id));
}

/**
 * The grant's characters as a token or code read joins them (`oauth_grants` left-joined). A token whose grant
 * row is gone (a scope taken from the client ended the grant but not a token without that scope; an approved
 * device code redeemed after a revoke) sees none: fail closed, never "all".
 */
export const JOINED_GRANT_CHARACTERS = sql<string | null>`case when oauth_grants.client_id is null then '[]' else oauth_grants.characters end`.as('grant_characters');
