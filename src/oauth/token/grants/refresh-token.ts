import { idTokenDuringCommit } from './id-token-beside.js';
import { OAuthError, invalidGrant, invalidRequest } from '../../protocol/errors.js';
import type { IssuedTokens } from '../../store/token-pair.js';
import { tokenState } from '../../store/token-state.js';
import { parseScopes } from '../../../scopes.js';
import { grantedDetails } from './granted-details.js';
import { decodeChoice } from '../../../consent/character-choice.js';
import type { GrantHandler } from './types.js';
import { parseAudience } from '../../../audiences.js';
import { narrowedAudience } from '../../protocol/resource-param.js';
import { joinedBudget } from '../../../consent/joined-budget.js';

/**
 * RFC 6749 §6 with RFC 9700 §4.14.2: every use rotates the refresh token;
 * a used one presented again revokes its whole family (RT-01…RT-04).
 */
export const refreshTokenGrant: GrantHandler = async ({ params, client, budgets, store, now, audit, idTokens, issuer, origin, events }): Promise<IssuedTokens> => {
  const replayed = async (familyId: string, userId: string) => {
    // SPEC §13: the app hears of it (tokens.revoked) from the transaction that revoked them.
    const revoked = await store.revocation.family(familyId, 'refresh_replay', (trx) => events.webhook(trx, 'tokens.revoked', userId, client.clientId, { reason: 'refresh_replay' }).then(() => undefined));
    await audit.record({ type: 'refresh_token.replayed', userId, clientId: client.clientId, detail: { familyId, tokensRevoked: revoked } }, origin);
    throw invalidGrant('The refresh token was already used; its family is revoked.');
  };
  const presented = params.get('refresh_token');
  if (presented === undefined) throw invalidRequest('refresh_token is required.');
  const row = await store.tokens.find(presented);
  if (!row || row.kind !== 'refresh') throw invalidGrant('The refresh token is invalid.');
  if (row.client_id !== client.clientId) throw invalidGrant('The refresh token was issued to another client.');
  const state = tokenState(row, now());
  if (state === 'revoked') throw invalidGrant('The refresh token has been revoked.');
  if (state === 'consumed') {
    // Replay: the token was stolen or the app lost track of its rotation; end the family.
    return replayed(row.family_id, row.user_id);
  }
  if (state === 'expired') throw invalidGrant('The refresh token has expired.');

  const familyScopes = parseScopes(row.scopes);
  let accessScopes = familyScopes;
  const requested = params.get('scope');
  if (requested !== undefined) {
    accessScopes = parseScopes(requested);
    // RFC 6749 §6: the scope may narrow, never widen.
    if (accessScopes.length === 0 || accessScopes.some((s) => !familyScopes.includes(s))) {
      throw new OAuthError('invalid_scope', 'The requested scope exceeds the scope originally granted.');
    }
  }
  const audience = parseAudience(row.resources);
  const accessAudience = narrowedAudience(params, issuer, audience);
  // OIDC Core §12.2: a refreshed ID token keeps the original auth_time; no nonce.
  const { access, idToken } = idTokenDuringCommit(idTokens, { clientId: client.clientId, userId: row.user_id, scopes: accessScopes, alg: client.idTokenSigningAlg, authTime: row.auth_time, amr: row.amr, sid: row.sid });
  const issued = await store.issuance.rotateRefresh(row, { clientId: client.clientId, userId: row.user_id, scopes: familyScopes, accessScopes, authTime: row.auth_time, amr: row.amr, sid: row.sid, audience, accessAudience, access });
  if (!issued) {
    // Lost a race with a concurrent use of the same token: a replay all the same.
    return replayed(row.family_id, row.user_id);
  }
  if (idToken) issued.id_token = await idToken;
  return grantedDetails(issued, budgets, row.user_id, client.clientId, decodeChoice(row.grant_characters), joinedBudget(row));
};
