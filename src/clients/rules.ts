/** Rules a client's fields follow wherever they come from: the API, the dashboard, registration, a metadata document. */
export const SIGNING_ALG_NAMES = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlgName = (typeof SIGNING_ALG_NAMES)[number];

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
