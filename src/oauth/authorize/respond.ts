import { asciiUri } from '../../clients/redirect-uris.js';

/**
 * An authorization response (RFC 6749 §4.1.2): parameters appended to the
 * registered redirect URI, keeping its own query byte for byte, plus `iss`
 * (RFC 9207).
 */
export function responseLocation(redirectUri: string, params: Record<string, string | undefined>, issuer: string): string {
  const pairs = Object.entries({ ...params, iss: issuer })
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  const base = asciiUri(redirectUri);
  const separator = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return base + separator + pairs.join('&');
}
