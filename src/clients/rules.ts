/** Rules a client's fields follow wherever they come from: the API, the dashboard, registration, a metadata document. */
export const SIGNING_ALG_NAMES = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlgName = (typeof SIGNING_ALG_NAMES)[number];

/**
 * A name is shown to users on the consent page: it needs a visible
 * character, and may hold no control, format (zero-width, bidi override) or
 * line-separator character that could disguise what it says. Returns the
 * problem, or null.
 */
export function nameProblem(name: string): string | null {
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/u.test(name)) {
    return 'must not contain control, invisible-format or bidirectional-override characters.';
  }
  if (!/[\p{L}\p{N}\p{P}\p{S}]/u.test(name)) return 'must contain a visible character.';
  return null;
}

/** RFC 8628 §3.4's grant type, which a client opts into (SPEC §9). */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPE_NAMES = ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT] as const;
export type GrantTypeName = (typeof GRANT_TYPE_NAMES)[number];
export const DEFAULT_GRANT_TYPES: GrantTypeName[] = ['authorization_code', 'refresh_token'];

/** Stored space-separated; null (the default) when it is the default, so older rows read the same. */
export function formatGrantTypes(types: readonly string[]): string | null {
  const unique = [...new Set(types)];
  return unique.length === DEFAULT_GRANT_TYPES.length && DEFAULT_GRANT_TYPES.every((t) => unique.includes(t)) ? null : unique.join(' ');
}

export function parseGrantTypes(stored: string | null): GrantTypeName[] {
  return stored === null ? [...DEFAULT_GRANT_TYPES] : (stored.split(' ').filter((t) => (GRANT_TYPE_NAMES as readonly string[]).includes(t)) as GrantTypeName[]);
}
