import { OAuthError, invalidGrant, invalidRequest } from '../../protocol/errors.js';
import type { CodeVerdict } from '../../store/issuance.js';
import type { CodeWithUser } from '../../store/codes.js';
import { isValidPkceValue, verifyS256 } from '../../protocol/pkce.js';
import { idTokenDuringCommit } from './id-token-beside.js';
import type { IssuedTokens } from '../../store/token-pair.js';
import { parseScopes } from '../../../scopes.js';
import { grantedDetails } from './granted-details.js';
import { decodeChoice } from '../../../consent/character-choice.js';
import type { GrantHandler } from './types.js';
import { parseAudience } from '../../../audiences.js';
import { audienceParam, widerTarget } from '../../protocol/resource-param.js';
import { joinedBudget } from '../../../consent/joined-budget.js';
import { mayUseGrant } from '../../../clients/rules.js';

/** RFC 6749 §4.1.3 with RFC 7636 §4.5–4.6: redeem a code once, bound to everything it was issued for. */
export const authorizationCodeGrant: GrantHandler = async ({ params, client, budgets, store, now, audit, idTokens, issuer, origin }): Promise<IssuedTokens> => {
  const replayed = async (codeHash: string, userId: string) => {
    const revoked = await store.revocation.byCode(codeHash);
    await audit.record({ type: 'code.replayed', userId, clientId: client.clientId, detail: { tokensRevoked: revoked } }, origin);
    throw invalidGrant('The code was already used; the tokens issued from it are revoked.');
  };
  const code = params.get('code');
  if (code === undefined) throw invalidRequest('code is required.');
  const redirectUri = params.get('redirect_uri');
  if (redirectUri === undefined) throw invalidRequest('redirect_uri is required.'); // TK-05
  const verifier = params.get('code_verifier');
  if (verifier === undefined) throw invalidGrant('code_verifier is required.'); // TK-06
  if (!isValidPkceValue(verifier)) throw invalidRequest('code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~.'); // TK-07

  // RFC 8707: a malformed resource is refused before the transaction (the judge below must never throw).
  const asked = audienceParam(params, issuer);
  // Judged in the transaction that consumes the code (so perhaps more than once: nothing here but the verdict and
  // the ID token's signing, which only the last run's is kept of). It returns refusals: a throw would roll back
  // every other redemption committing in the same group.
  const signing: { idToken: Promise<string> | null } = { idToken: null };
  const redemption = await store.issuance.redeemCode(code, (row): CodeVerdict<OAuthError | { replayOf: CodeWithUser }> => {
    if (!row) return { refused: invalidGrant('The code is invalid, expired or already used.') };
    if (row.client_id !== client.clientId) return { refused: invalidGrant('The code was issued to another client.') }; // TK-04
    // TK-02, RFC 6749 §4.1.2: a code used twice revokes what it issued.
    if (row.consumed_at !== null) return { refused: { replayOf: row } };
    if (row.expires_at <= now()) return { refused: invalidGrant('The code has expired.') }; // TK-03
    if (row.redirect_uri !== redirectUri) return { refused: invalidGrant('redirect_uri does not match the authorization request.') };
    if (!verifyS256(verifier, row.code_challenge)) return { refused: invalidGrant('code_verifier does not match the code_challenge.') };
    const scopes = parseScopes(row.scopes);
    // RFC 8707 §2.2: the refresh token keeps the audience granted; the access token may be for less.
    const audience = parseAudience(row.resources);
    const wider = widerTarget(asked, audience);
    if (wider) return { refused: wider };
    const beside = idTokenDuringCommit(idTokens, { clientId: client.clientId, userId: row.user_id, scopes, alg: client.idTokenSigningAlg, nonce: row.nonce, authTime: row.auth_time, amr: row.amr, sid: row.sid, recordSession: true, profile: row });
    signing.idToken = beside.idToken;
    return { subject: { clientId: client.clientId, userId: row.user_id, scopes, authTime: row.auth_time, amr: row.amr, sid: row.sid, audience, accessAudience: asked, access: beside.access, refresh: mayUseGrant(client, 'refresh_token') } };
  });
  if ('refused' in redemption) {
    const { refused } = redemption;
    if (refused instanceof OAuthError) throw refused;
    return replayed(refused.replayOf.code_hash, refused.replayOf.user_id);
  }
  // Lost a race with a concurrent redemption: that one's tokens die too.
  if ('replayed' in redemption) return replayed(redemption.replayed.code_hash, redemption.replayed.user_id);
  const { issued, row } = redemption;
  if (signing.idToken) issued.id_token = await signing.idToken;
  // The budget as the code's statement read it: no read of its own (SPEC §10's details in the token response).
  return grantedDetails(issued, budgets, row.user_id, client.clientId, decodeChoice(row.grant_characters), joinedBudget(row));
};
