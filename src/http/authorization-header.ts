/**
 * What an `Authorization` header presents. The one parser of the header,
 * for API keys, access tokens and the metrics token alike.
 */
export type Presented =
  | { kind: 'none' }
  /** Another scheme (Basic, …): no bearer credentials. */
  | { kind: 'other' }
  /** The Bearer scheme with no value, or a value that is not one b64token. */
  | { kind: 'malformed' }
  | { kind: 'bearer'; token: string };

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235 §2.1).
const B64TOKEN_SOURCE = '[A-Za-z0-9\\-._~+/]+=*';
const BEARER = new RegExp(`^bearer +(${B64TOKEN_SOURCE})$`, 'i');
const SCHEME = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?: |$)/;

/** One RFC 6750 b64token (what a METRICS_TOKEN must be to travel in the header). */
export const B64TOKEN = new RegExp(`^${B64TOKEN_SOURCE}$`);

export function presentedCredentials(header: string | undefined): Presented {
  if (header === undefined || header.trim() === '') return { kind: 'none' };
  const scheme = SCHEME.exec(header)?.[1];
  if (scheme === undefined || scheme.toLowerCase() !== 'bearer') return scheme === undefined ? { kind: 'malformed' } : { kind: 'other' };
  const token = BEARER.exec(header)?.[1];
  return token === undefined ? { kind: 'malformed' } : { kind: 'bearer', token };
}
