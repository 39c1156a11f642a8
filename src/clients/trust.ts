import type { RegisteredClient } from './service.js';

/**
 * RFC 9700 §4.11.2: an authorization server that redirects errors to any
 * registered URI is an open redirector for whoever can register one, so it
 * "SHOULD only automatically redirect the user agent if it trusts the
 * redirect URI". Serika trusts a client a user owns, or one an operator
 * verified (SPEC §4, §12); other dynamically registered and metadata-document
 * clients have no owner, and their errors are pages.
 */
export function redirectsErrors(client: Pick<RegisteredClient, 'ownerId' | 'verifiedAt'>): boolean {
  return client.ownerId !== null || client.verifiedAt !== null;
}
