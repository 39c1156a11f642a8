import { idTokenDuringCommit } from './id-token-beside.js';
import { parseAudience } from '../../../audiences.js';
import { mayUseGrant } from '../../../clients/rules.js';
import { parseScopes } from '../../../scopes.js';
import { OAuthError, invalidGrant, invalidRequest } from '../../protocol/errors.js';
import type { IssuedTokens } from '../../store/token-pair.js';
import { grantedDetails } from './granted-details.js';
import type { GrantHandler } from './types.js';

/** RFC 8628 §3.5: the polling answers are §5.2 errors, 400 each. */
const polling = (code: 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token', description: string) => new OAuthError(code, description, { status: 400 });

/** RFC 8628 §3.4–3.5: the device polls until the user decides; tokens exactly once. */
export const deviceCodeGrant: GrantHandler = async ({ params, client, budgets, audit, idTokens, devices, origin, store }): Promise<IssuedTokens> => {
  const deviceCode = params.get('device_code');
  if (deviceCode === undefined) throw invalidRequest('device_code is required.');
  const outcome = await devices.poll(deviceCode, client.clientId);
  switch (outcome.kind) {
    case 'unknown':
      throw invalidGrant('The device code is invalid.');
    case 'other_client':
      throw invalidGrant('The device code was issued to another client.');
    case 'consumed':
      throw invalidGrant('The device code was already used; its tokens were issued.');
    case 'expired':
      throw polling('expired_token', 'The device code has expired; start again.');
    case 'slow_down':
      throw polling('slow_down', `Polling too fast; wait ${outcome.interval} seconds between requests.`);
    case 'pending':
      throw polling('authorization_pending', 'The user has not yet entered the code and decided.');
    case 'denied':
      throw polling('access_denied', 'The user denied the request.');
  }
  const { row } = outcome;
  const scopes = parseScopes(row.scopes);
  const { access, idToken } = idTokenDuringCommit(idTokens, { clientId: client.clientId, userId: row.user_id!, scopes, alg: client.idTokenSigningAlg, authTime: row.auth_time, amr: row.amr, sid: row.sid, recordSession: true });
  const issued = await devices.redeem(row, { clientId: client.clientId, userId: row.user_id!, scopes, authTime: row.auth_time, amr: row.amr, sid: row.sid, audience: parseAudience(row.resources), access, refresh: mayUseGrant(client, 'refresh_token') });
  if (!issued) {
    await audit.record({ type: 'device_code.replayed', userId: row.user_id, clientId: client.clientId }, origin);
    throw invalidGrant('The device code was already used; its tokens were issued.');
  }
  if (idToken) issued.id_token = await idToken;
  return grantedDetails(issued, budgets, row.user_id!, client.clientId, await store.tokens.grantCharacters(row.user_id!, client.clientId));
};
