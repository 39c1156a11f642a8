import type { FastifyReply } from 'fastify';

/**
 * An authorization response (RFC 6749 §4.1.2): parameters appended to the
 * registered redirect URI, keeping its own query byte for byte, plus `iss`
 * (RFC 9207). 303, so a POST is never replayed (RFC 9700 §4.12, AZ-20).
 */
export function redirectWith(reply: FastifyReply, redirectUri: string, params: Record<string, string | undefined>, issuer: string): FastifyReply {
  const pairs = Object.entries({ ...params, iss: issuer })
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  const separator = redirectUri.includes('?') ? (redirectUri.endsWith('?') || redirectUri.endsWith('&') ? '' : '&') : '?';
  return reply
    .code(303)
    .header('location', redirectUri + separator + pairs.join('&'))
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .send();
}
