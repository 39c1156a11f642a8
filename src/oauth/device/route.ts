import type { FastifyInstance } from 'fastify';
import { EVERY_RESOURCE } from '../../audiences.js';
import { DEVICE_CODE_GRANT, grantRefusal, mayUseGrant, suspendedRefusal } from '../../clients/rules.js';
import { API, PATHS } from '../../paths.js';
import { requestedScopes } from '../authorize/check-scope.js';
import { OAuthError } from '../protocol/errors.js';
import { OAuthParams } from '../protocol/params.js';
import type { ClientAuthenticator } from '../protocol/client-auth.js';
import { audienceParam } from '../protocol/resource-param.js';
import type { DeviceCodes } from './store.js';
import { displayUserCode } from './user-codes.js';
import { authorizationDetailsParam } from '../protocol/authorization-details.js';

export interface DeviceAuthorizationDeps {
  authenticate: ClientAuthenticator;
  devices: DeviceCodes;
  issuer: string;
}

/**
 * POST /oauth/device_authorization (RFC 8628 §3.1–3.2, SPEC §9): client
 * authentication as at the token endpoint (and its rate limits), `scope`
 * and `resource` as at the authorization endpoint.
 */
export async function deviceAuthorizationRoute(scope: FastifyInstance, deps: DeviceAuthorizationDeps): Promise<void> {
  scope.post(
    API.deviceAuthorization,
    {
      schema: {
        tags: ['oauth'],
        summary: 'Device authorization (RFC 8628)',
        description:
          'client_id (and client authentication for confidential clients), scope, resource, authorization_details (serika_budget, serika_characters). The client must have the grant type urn:ietf:params:oauth:grant-type:device_code. Answers device_code, user_code, verification_uri, verification_uri_complete, expires_in and interval.',
      },
    },
    async (request, reply) => {
      const params = OAuthParams.fromBody(request.body).rejectRepeats();
      const { client } = await deps.authenticate(request, reply, params);
      const suspended = suspendedRefusal(client);
      if (suspended !== null) throw new OAuthError('unauthorized_client', suspended);
      // RFC 8628 §3.1: the same rule the token endpoint applies, asked before a code is handed out.
      if (!mayUseGrant(client, DEVICE_CODE_GRANT)) throw new OAuthError('unauthorized_client', grantRefusal(DEVICE_CODE_GRANT));
      const scopes = requestedScopes(params.get('scope'), client.scopes);
      const audience = audienceParam(params, deps.issuer) ?? EVERY_RESOURCE;
      const { budget, characters } = authorizationDetailsParam(params.get('authorization_details'), scopes);
      const created = await deps.devices.create({ clientId: client.clientId, scopes, audience, ip: request.ip, budget, characters });
      const userCode = displayUserCode(created.userCode);
      const verificationUri = deps.issuer + PATHS.device;
      return reply.send({
        device_code: created.deviceCode,
        user_code: userCode,
        verification_uri: verificationUri,
        verification_uri_complete: `${verificationUri}?user_code=${userCode}`,
        expires_in: created.expiresIn,
        interval: created.interval,
      });
    },
  );
}
