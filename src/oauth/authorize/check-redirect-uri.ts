import { withoutLoopbackPort } from '../../clients/loopback-uris.js';
import { asciiUri } from '../../clients/redirect-uris.js';
import { OAuthError, invalidRequest } from '../protocol/errors.js';
import { malformed, type AuthorizeStep } from './context.js';

/**
 * Exact string comparison (RFC 9700 §4.1.3), except the port of a loopback
 * URI (RFC 8252 §7.3). Registered URIs are stored ASCII-serialized, so a requested URI with
 * non-ASCII characters is compared in that form too.
 */
export function redirectUriMatches(registered: string[], requested: string): boolean {
  const candidates = new Set([requested, asciiUri(requested)]);
  for (const uri of candidates) {
    if (registered.includes(uri)) return true;
    const loose = withoutLoopbackPort(uri);
    if (loose !== null && registered.some((r) => withoutLoopbackPort(r) === loose)) return true;
  }
  return false;
}

/**
 * RFC 6749 §4.1.2.1 and RFC 9700 §4.1: the redirect URI is required
 * (OAuth 2.1) and verified before any other parameter, so no error is ever
 * sent to an unregistered URI (AZ-02…AZ-07).
 */
export const checkRedirectUri: AuthorizeStep = (ctx) => {
  if (ctx.params.isRepeated('redirect_uri')) throw invalidRequest('redirect_uri was given more than once.');
  const uri = ctx.params.get('redirect_uri');
  if (uri === undefined) throw invalidRequest('redirect_uri is missing.');
  ctx.sentRedirectUri = uri.slice(0, 2048);
  if (malformed(uri) || !redirectUriMatches(ctx.client!.redirectUris, uri)) {
    if (ctx.client!.kind === 'metadata_document') {
      throw new OAuthError('invalid_request', `The client_id document at ${ctx.client!.clientId.slice(0, 200)} has redirect_uris that do not include ${uri.slice(0, 200)}.`);
    }
    throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client.');
  }
  ctx.redirectUri = uri;
};
