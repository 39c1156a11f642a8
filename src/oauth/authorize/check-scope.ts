import { IGNORED_SCOPES, clientMayRequest, formatScopes, parseScopes } from '../../scopes.js';
import { OAuthError } from '../protocol/errors.js';
import type { AuthorizeStep } from './context.js';

/**
 * RFC 6749 §3.3: every requested scope must be known and registered for the
 * client; a missing scope is invalid_scope too: the app asks for what it
 * needs (AZ-13). The one reading of a requested scope, at the authorization
 * and device authorization endpoints alike.
 */
export function requestedScopes(scope: string | undefined, registered: readonly string[]): string[] {
  const requested = parseScopes(scope ?? '').filter((s) => !(IGNORED_SCOPES as readonly string[]).includes(s));
  if (requested.length === 0) throw new OAuthError('invalid_scope', 'scope is required.');
  const refused = requested.filter((s) => !clientMayRequest(registered, s));
  if (refused.length > 0) {
    throw new OAuthError('invalid_scope', `Scope not allowed for this client: ${formatScopes(refused).slice(0, 100)}.`);
  }
  return requested;
}

export const checkScope: AuthorizeStep = (ctx) => {
  ctx.scopes = requestedScopes(ctx.params.get('scope'), ctx.client!.scopes);
};
