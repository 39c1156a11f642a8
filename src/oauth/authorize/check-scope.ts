import { askedScopes, clientMayRequest, formatScopes } from '../../scopes.js';
import { OAuthError } from '../protocol/errors.js';
import type { AuthorizeStep } from './context.js';

/**
 * RFC 6749 §3.3: every requested scope must be known and registered for the
 * client. An omitted scope means the scopes the client registered (SPEC §4:
 * the pre-defined default §3.3 allows, which MCP clients rely on; §3.1: an
 * empty parameter counts as omitted); a scope of only spaces or ignored
 * scopes names nothing and is invalid_scope (§3.3's grammar). The one reading of a requested scope, at the
 * authorization and device authorization endpoints alike.
 */
export function requestedScopes(scope: string | undefined, registered: readonly string[]): string[] {
  if (scope === undefined) {
    if (registered.length === 0) throw new OAuthError('invalid_scope', 'scope is required: this client registered no scopes.');
    return [...registered];
  }
  const requested = askedScopes(scope);
  if (requested.length === 0) throw new OAuthError('invalid_scope', 'scope names no scope; omit it to ask for the scopes the client registered.');
  const refused = requested.filter((s) => !clientMayRequest(registered, s));
  if (refused.length > 0) {
    throw new OAuthError('invalid_scope', `Scope not allowed for this client: ${formatScopes(refused).slice(0, 100)}.`);
  }
  return requested;
}

export const checkScope: AuthorizeStep = (ctx) => {
  ctx.scopes = requestedScopes(ctx.params.get('scope'), ctx.client!.scopes);
};
