import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { presentedCredentials } from '../../http/authorization-header.js';
import type { ApiKeyPrincipal, ApiKeysService } from './service.js';
import { identify } from '../../http/request-context.js';
import { API, API_BASE } from '../../paths.js';
import { credentialKindOf } from '../../security/secrets.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API-key guard on the routes it protects. */
    apiKey: ApiKeyPrincipal | null;
  }
}

function presentedKey(request: FastifyRequest): string {
  const presented = presentedCredentials(request.headers.authorization);
  if (presented.kind === 'none') {
    throw new AppError(
      'invalid_api_key',
      "You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
    );
  }
  if (presented.kind !== 'bearer') throw new AppError('invalid_api_key', 'The Authorization header must be "Bearer YOUR_KEY".');
  return presented.token;
}

/** SPEC §14: an OAuth token sent where an API key belongs is told where it does work. */
function misplacedMessage(key: string, publicUrl: string): string | null {
  const kind = credentialKindOf(key);
  if (kind === 'access_token') return `This is an OAuth access token: it belongs under ${publicUrl}${API_BASE}${API.oauth} (for example ${API.oauth}${API.chatCompletions}); this path takes API keys.`;
  if (kind === 'refresh_token') return 'This is an OAuth refresh token: exchange it for an access token at the token endpoint; this path takes API keys.';
  return null;
}

/**
 * Registers the API-key guard on the calling plugin's scope: every route
 * registered in that scope (and only there, by Fastify's encapsulation)
 * requires `Authorization: Bearer <API key>` (SPEC §3).
 */
export function requireApiKey(scope: FastifyInstance, apiKeys: ApiKeysService, publicUrl: string): void {
  if (!scope.hasRequestDecorator('apiKey')) scope.decorateRequest('apiKey', null);
  scope.addHook('onRequest', async (request) => {
    const key = presentedKey(request);
    const principal = await apiKeys.authenticate(key);
    if (!principal) throw new AppError('invalid_api_key', misplacedMessage(key, publicUrl) ?? 'Incorrect API key provided.');
    request.apiKey = principal;
    identify(request.log, { userId: principal.userId, apiKeyId: principal.apiKeyId });
  });
}

/** The principal of a guarded route; the guard guarantees it is set. */
export function apiKeyOf(request: FastifyRequest): ApiKeyPrincipal {
  if (!request.apiKey) throw new AppError('invalid_api_key', 'Incorrect API key provided.');
  return request.apiKey;
}
