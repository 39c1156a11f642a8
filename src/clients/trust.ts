import type { RegisteredClient } from './service.js';

/**
 * RFC 9700 §4.11.2: an authorization server that redirects errors to any
 * registered URI is an open redirector for whoever can register one, so it
 * "SHOULD only automatically redirect the user agent if it trusts the
 * redirect URI". Serika trusts a client a user owns (SPEC §4); dynamically
 * registered and metadata-document clients have no owner, and their errors
 * are pages. The one rule for it: operator verification (SPEC §12) joins here.
 */
export function redirectsErrors(client: Pick<RegisteredClient, 'ownerId'>): boolean {
  return client.ownerId !== null;
}
