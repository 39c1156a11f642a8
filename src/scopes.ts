/**
 * The scopes Serika knows (SPEC §4), with the plain words shown to users.
 * The one list: schemas, metadata, consent and checks all read it.
 */
export const SCOPES = {
  profile: 'See your user ID, username and avatar',
  generations: 'Generate text and images on your behalf',
  characters: 'Read your characters',
} as const;

export type Scope = keyof typeof SCOPES;
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

export function isScope(value: string): value is Scope {
  return Object.hasOwn(SCOPES, value);
}

/** RFC 6749 §3.3: a scope string is space-delimited; the only place one is split. */
export function parseScopes(value: string): string[] {
  return [...new Set(value.split(' ').filter(Boolean))];
}

/** The only place a scope string is joined: each scope once, in the order given. */
export function formatScopes(scopes: Iterable<string>): string {
  return [...new Set(scopes)].join(' ');
}
