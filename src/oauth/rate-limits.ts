import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ClientsService } from '../clients/service.js';
import { authenticateClient, parseBasic, type AuthenticatedClient } from './client-auth.js';
import { OAuthError } from './errors.js';
import type { OAuthParams } from './params.js';
import { identify } from '../http/request-context.js';
import type { Telemetry } from '../http/telemetry.js';

class TooManyRequests extends Error {
  readonly statusCode = 429;
}

/** The client a request claims to be, read without judging it (Basic or body client_id). */
function claimedClientId(request: FastifyRequest, params: OAuthParams): string {
  try {
    return parseBasic(request.headers.authorization)?.id ?? params.get('client_id') ?? '';
  } catch {
    return params.get('client_id') ?? '';
  }
}

export type ClientAuthenticator = (request: FastifyRequest, reply: FastifyReply, params: OAuthParams) => Promise<AuthenticatedClient>;

/**
 * RATE_LIMIT_TOKEN per minute at the token, revocation and introspection
 * endpoints, answered with 429 and Retry-After; 0 turns them off. Three
 * counters, kept apart by prefix in @fastify/rate-limit's store:
 * - per IP, every request, before the body is read;
 * - per client, only once the client has authenticated, so nobody who merely
 *   knows a client_id can spend a client's allowance and lock it out;
 * - per IP × claimed client_id, failed authentications only.
 * Returns the per-IP hook and the client authentication every endpoint uses.
 */
export function tokenRateLimits(
  scope: FastifyInstance,
  perMinute: number,
  clients: ClientsService,
  telemetry?: Telemetry,
): { onRequest: onRequestHookHandler[]; authenticate: ClientAuthenticator } {
  const plain: ClientAuthenticator = async (request, _reply, params) => {
    const authenticated = await authenticateClient(request, params, clients);
    identify(request.log, { clientId: authenticated.client.clientId });
    return authenticated;
  };
  if (perMinute <= 0) return { onRequest: [], authenticate: plain };

  const limiter = (name: 'ip' | 'client' | 'client_auth_failures', key: (request: FastifyRequest) => string) => {
    const check = scope.createRateLimit({ max: perMinute, timeWindow: 60_000, keyGenerator: key });
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const result = await check(request);
      if (!result.isAllowed && result.isExceeded) {
        telemetry?.rateLimited(name);
        reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)));
        throw new TooManyRequests('Too many requests; retry later.');
      }
    };
  };
  const perIp = limiter('ip', (request) => `ip:${request.ip}`);
  const claimed = new WeakMap<FastifyRequest, string>();
  const perClient = limiter('client', (request) => `client:${claimed.get(request) ?? ''}`);
  const failures = limiter('client_auth_failures', (request) => `fail:${request.ip}:${claimed.get(request) ?? ''}`);

  return {
    onRequest: [perIp],
    authenticate: async (request, reply, params) => {
      let authenticated: AuthenticatedClient;
      try {
        authenticated = await plain(request, reply, params);
      } catch (error) {
        if (error instanceof OAuthError && error.code === 'invalid_client') {
          claimed.set(request, claimedClientId(request, params).slice(0, 200));
          await failures(request, reply);
        }
        throw error;
      }
      claimed.set(request, authenticated.client.clientId);
      await perClient(request, reply);
      return authenticated;
    },
  };
}
