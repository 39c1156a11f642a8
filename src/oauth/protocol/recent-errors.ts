import type { FastifyRequest } from 'fastify';
import type { ClientErrorLog, ErrorEndpoint } from '../../clients/recent-errors.js';
import { PATHS } from '../../paths.js';
import { authenticatedClientId, claimedClientId } from './client-auth.js';
import type { OAuthError } from './errors.js';
import type { OAuthErrorListener } from './json-errors.js';
import { OAuthParams } from './params.js';

const ENDPOINTS: Record<string, ErrorEndpoint> = { [PATHS.token]: 'token', [PATHS.deviceAuthorization]: 'device_authorization' };

/**
 * Token and device-authorization errors into the client's recent errors (SPEC
 * §12), heard where they are rendered: the client the request authenticated
 * as, or else the one it claims to be (Basic or client_id), kept then for a
 * public client only — a confidential client's list holds what the app itself
 * sent, not whatever anyone knowing its id sends (an unknown id is dropped by
 * the log); the error as the app was told it, and the redirect_uri it sent.
 * Nothing else of the request is kept: no secret, code, token or verifier.
 */
export function recordTokenErrors(log: ClientErrorLog): OAuthErrorListener {
  return (request: FastifyRequest, error: OAuthError) => {
    const endpoint = ENDPOINTS[request.routeOptions.url ?? ''];
    if (endpoint === undefined) return;
    let params: OAuthParams;
    try {
      params = OAuthParams.fromBody(request.body);
    } catch {
      params = OAuthParams.fromBody(undefined);
    }
    const authenticated = authenticatedClientId(request);
    const clientId = authenticated ?? claimedClientId(request, params);
    if (clientId === '') return;
    log.record({ clientId, endpoint, error: error.code, description: error.message, redirectUri: params.get('redirect_uri') ?? null, claimedOnly: authenticated === undefined });
  };
}
