import type { IdTokenRequest, IdTokens } from '../../../oidc/id-token.js';
import { mint } from '../../store/credentials.js';

/**
 * OIDC Core §3.1.3.3 and §12.2: with openid, an ID token beside the access
 * token. The access token is minted before the grant's transaction so the ID
 * token (its at_hash) is signed — the slowest step, in the thread pool —
 * while the grant commits; a grant that fails never sends it. Pass `access`
 * in the token subject and await `idToken` once the grant has committed.
 */
export function idTokenDuringCommit(
  idTokens: IdTokens,
  request: Omit<IdTokenRequest, 'accessToken'>,
): { access: { value: string; hash: string }; idToken: Promise<string> | null } {
  const access = mint('access');
  const idToken = request.scopes.includes('openid') ? idTokens.mint({ ...request, accessToken: access.value }) : null;
  // Awaited after the commit; a grant that fails first must not leave the rejection unhandled.
  idToken?.catch(() => undefined);
  return { access, idToken };
}
