import { invalidGrant, invalidRequest } from '../../protocol/errors.js';
import { isValidPkceValue, verifyS256 } from '../../protocol/pkce.js';
import { idTokenDuringCommit } from './id-token-beside.js';
import type { IssuedTokens } from '../../store/token-pair.js';
import { parseScopes } from '../../../scopes.js';
import { grantedDetails } from './granted-details.js';
import { decodeChoice } from '../../../consent/character-choice.js';
import type { GrantHandler } from './types.js';
import { parseAudience } from '../../../audiences.js';
import { narrowedAudience } from '../../protocol/resource-param.js';
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

  const row = await store.codes.find(code);
  if (!row) throw invalidGrant('The code is invalid, expired or already used.');
  if (row.client_id !== client.clientId) throw invalidGrant('The code was issued to another client.'); // TK-04
  if (row.consumed_at !== null) {
    // TK-02, RFC 6749 §4.1.2: a code used twice revokes what it issued.
    return replayed(row.code_hash, row.user_id);
  }
  if (row.expires_at <= now()) throw invalidGrant('The code has expired.'); // TK-03
  if (row.redirect_uri !== redirectUri) throw invalidGrant('redirect_uri does not match the authorization request.');
  if (!verifyS256(verifier, row.code_challenge)) throw invalidGrant('code_verifier does not match the code_challenge.');

  const scopes = parseScopes(row.scopes);
  // RFC 8707 §2.2: the refresh token keeps the audience granted; the access token may be for less.
  const audience = parseAudience(row.resources);
  const accessAudience = narrowedAudience(params, issuer, audience);
  const { access, idToken } = idTokenDuringCommit(idTokens, { clientId: client.clientId, userId: row.user_id, scopes, alg: client.idTokenSigningAlg, nonce: row.nonce, authTime: row.auth_time, amr: row.amr, sid: row.sid, recordSession: true, profile: row });
  const issued = await store.issuance.redeemCode(row.code_hash, { clientId: client.clientId, userId: row.user_id, scopes, authTime: row.auth_time, amr: row.amr, sid: row.sid, audience, accessAudience, access, refresh: mayUseGrant(client, 'refresh_token') });
  if (!issued) {
    // Lost a race with a concurrent redemption: that one's tokens die too.
    return replayed(row.code_hash, row.user_id);
  }
  if (idToken) issued.id_token = await idToken;
  // The budget as the code's statement read it: no read of its own (SPEC §10's details in the token response).
  return grantedDetails(issued, budgets, row.user_id, client.clientId, decodeChoice(row.grant_characters), joinedBudget(row));
};
