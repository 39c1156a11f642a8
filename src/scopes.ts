/**
 * The scopes Serika knows (SPEC §4), with the plain words shown to users.
 * The one list: schemas, metadata, consent and checks all read it.
 */
export const SCOPES = {
  openid: 'Sign you in with your Serika account',
  profile: 'See your user ID, username and avatar',
  email: 'See your email address',
  generations: 'Generate text and images on your behalf',
  characters: 'Read your characters',
} as const;

/**
 * OIDC Core §11: offline_access asks for refresh tokens, which Serika always
 * issues; it is accepted at authorize and dropped, never an invalid_scope.
 */
export const IGNORED_SCOPES = ['offline_access'] as const;

export type Scope = keyof typeof SCOPES;
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

export function isScope(value: string): value is Scope {
  return Object.hasOwn(SCOPES, value);
}

/** Whether a client may be granted a scope: what it registered, and `openid`, which every client may ask for (SPEC §7). */
export function clientMayRequest(registered: readonly string[], scope: string): boolean {
  return scope === 'openid' || registered.includes(scope);
}

/** RFC 6749 §3.3: a scope string is space-delimited; the only place one is split. */
export function parseScopes(value: string): string[] {
  return [...new Set(value.split(' ').filter(Boolean))];
}

/** A scope string as an app asks (authorize, device authorization, registration): split, without the scopes accepted and ignored. */
export function askedScopes(value: string): string[] {
  return parseScopes(value).filter((s) => !(IGNORED_SCOPES as readonly string[]).includes(s));
}

/** The only place a scope string is joined: each scope once, in the order given. */
export function formatScopes(scopes: Iterable<string>): string {
  return [...new Set(scopes)].join(' ');
}
