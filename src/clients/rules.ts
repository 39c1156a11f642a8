/** Rules a client's fields follow wherever they come from: the API, the dashboard, registration, a metadata document. */

/** RFC 8628 §3.4's grant type, which a client opts into (SPEC §9). */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8693 token exchange: sub-agent tokens (SPEC §15). */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_TYPE_NAMES = ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT] as const;
export type GrantTypeName = (typeof GRANT_TYPE_NAMES)[number];
/**
 * SPEC §9's default. With refresh_token in it, refresh tokens are always issued (SPEC §7), so
 * offline_access stays accepted and ignored: it neither grants refresh tokens to a client
 * registered without the grant (that would make its registration untrue, SPEC §8) nor is
 * needed by one registered with it.
 */
export const DEFAULT_GRANT_TYPES: GrantTypeName[] = ['authorization_code', 'refresh_token'];

/** "May this client use this grant", the one rule: the token endpoint for every grant, and whether a refresh token is issued. */
export function mayUseGrant(client: { grantTypes: readonly string[] }, grantType: string): boolean {
  if (client.grantTypes.includes(grantType)) return true;
  // Token exchange (SPEC §15 is silent on registration): Hydra and Okta make a client list it; here a client may
  // also use it when it has authorization_code or the device grant, since it only trades an access token the
  // client already got from the user for a narrower one — nothing the user did not already allow it.
  return grantType === TOKEN_EXCHANGE_GRANT && (client.grantTypes.includes('authorization_code') || client.grantTypes.includes(DEVICE_CODE_GRANT));
}

/** A client redirects only for the authorization code grant: a device-only client registers no redirect URI. */
export function needsRedirectUris(grantTypes: readonly string[]): boolean {
  return grantTypes.includes('authorization_code');
}

/** The unauthorized_client description, naming what to change. */
export function grantRefusal(grantType: string): string {
  if (grantType === DEVICE_CODE_GRANT) return `This client may not use the device grant; add "${DEVICE_CODE_GRANT}" to its grantTypes (dashboard: "Allow sign-in from devices (CLI, TV)").`;
  return `This client is not registered for the ${grantType} grant; its grantTypes do not include it.`;
}

/** Stored space-separated; null (the default) when it is the default, so older rows read the same. */
export function formatGrantTypes(types: readonly string[]): string | null {
  const unique = [...new Set(types)];
  return unique.length === DEFAULT_GRANT_TYPES.length && DEFAULT_GRANT_TYPES.every((t) => unique.includes(t)) ? null : unique.join(' ');
}

export function parseGrantTypes(stored: string | null): GrantTypeName[] {
  return stored === null ? [...DEFAULT_GRANT_TYPES] : (stored.split(' ').filter((t) => (GRANT_TYPE_NAMES as readonly string[]).includes(t)) as GrantTypeName[]);
}

/**
 * SPEC §12: a suspended app may neither authorize nor get tokens. At the token endpoint it is
 * unauthorized_client (RFC 6749 §5.2: "the authenticated client is not authorized to use this
 * authorization grant type"): its credentials are right, so invalid_client (and its Basic
 * challenge) would send its developer after the wrong fault.
 */
export function suspendedRefusal(client: { name: string; suspendedAt: number | null }): string | null {
  if (client.suspendedAt === null) return null;
  return `The app ${JSON.stringify(client.name)} is suspended by the operator of this Serika: it cannot sign anyone in or get tokens.`;
}
