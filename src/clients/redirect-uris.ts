import { LOOPBACK_HOSTS_IN_WORDS, isLoopbackUri } from './loopback-uris.js';

/**
 * Redirect URI registration rules (SPEC §3, RFC 9700 §2.1, RFC 8252).
 * Returns the reason a URI is refused, or null when it may be registered.
 * A URI is stored in its ASCII serialization (see asciiUri) and compared as
 * a string by the authorize endpoint.
 */
export const REDIRECT_URI_MAX = 2048;
/** How many redirect URIs, and how many post-logout ones, a client may register (SPEC §3). */
export const REDIRECT_URIS_MAX = 10;

/** A list of redirect URIs in a JSON schema: how many, and how long each; the rules a schema cannot say are checkRedirectUriList's. */
export const redirectUriListSchema = { type: 'array', maxItems: REDIRECT_URIS_MAX, items: { type: 'string', maxLength: REDIRECT_URI_MAX } } as const;

// Schemes that execute or read locally; never a place to send a code.
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'blob:', 'about:', 'filesystem:']);

export function redirectUriProblem(uri: string): string | null {
  if (uri.length === 0) return 'must not be empty';
  if (uri.length > REDIRECT_URI_MAX) return `must be at most ${REDIRECT_URI_MAX} characters`;
  // Control characters and spaces would be normalised away by URL parsing and break exact matching.
  if (/[\p{Cc}\s]/u.test(uri)) return 'must not contain spaces or control characters';
  // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component.
  if (uri.includes('#')) return 'must not contain a fragment (#)';
  // RFC 9700 §2.1: exact matching only, so no wildcard patterns.
  if (uri.includes('*')) return 'must not contain a wildcard (*)';
  // RFC 6749 §3.1.2: the redirection endpoint URI MUST be an absolute URI.
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return 'must be an absolute URI with a scheme';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URI';
  }
  const scheme = url.protocol;
  if (FORBIDDEN_SCHEMES.has(scheme)) return `must not use the ${scheme} scheme`;
  if (scheme === 'https:' || scheme === 'http:') {
    if (!/^https?:\/\//i.test(uri) || url.hostname === '') return 'must name a host';
    if (url.username || url.password) return 'must not contain a user name or password';
    // RFC 9700 §2.6 and RFC 8252 §7.3: plain http only on the loopback interface.
    if (scheme === 'http:' && !isLoopbackUri(uri)) return `must use https, or http only for ${LOOPBACK_HOSTS_IN_WORDS}`;
    return null;
  }
  // RFC 8252 §7.1: private-use URI schemes use reverse domain names, so they contain a dot.
  if (!scheme.slice(0, -1).includes('.')) {
    return 'must use https, http on a loopback host, or a private-use scheme with a dot such as com.example.app:/callback';
  }
  return null;
}

/**
 * A list of redirect URIs as a client registers it, through the API, the
 * dashboard or RFC 7591 registration: each URI by redirectUriProblem, then
 * each only once in its ASCII form, the form stored (asciiUri) and so the
 * form compared. `field` names the list in the reason.
 */
export function checkRedirectUriList(given: readonly string[], field: string): { uris: string[] } | { problem: string } {
  for (const [index, uri] of given.entries()) {
    const problem = redirectUriProblem(uri);
    if (problem) return { problem: `${field}[${index}] ${problem}.` };
  }
  const uris = given.map(asciiUri);
  if (new Set(uris).size !== uris.length) return { problem: `${field} lists a URI more than once.` };
  return { uris };
}

/**
 * A URI as it may go into a Location header and be stored: unchanged when it
 * is printable ASCII, else its WHATWG serialization (non-ASCII
 * percent-encoded, an IDN host in punycode), so a header can always be built.
 */
export function asciiUri(uri: string): string {
  if (/^[\x21-\x7e]*$/.test(uri)) return uri;
  try {
    return new URL(uri).href;
  } catch {
    return encodeURI(uri);
  }
}

/** Where a redirect URI leads, for people: its host, or its scheme for a private-use URI (RFC 8252 §7.1). */
export function redirectUriHost(uri: string): string {
  try {
    const url = new URL(uri);
    return url.host || url.protocol.replace(/:$/, '');
  } catch {
    return uri;
  }
}
