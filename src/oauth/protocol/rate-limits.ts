import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { RateLimited } from '../../http/error-class.js';
import type { Telemetry } from '../../http/telemetry.js';

/** What client authentication tells the limits: who authenticated, or which client_id a failure claimed. */
type AuthenticationOutcome = { authenticated: string } | { failedClaim: string };

export interface TokenRateLimits {
  /** Per IP, every request, before the body is read. */
  onRequest: onRequestHookHandler[];
  /** Counts an authentication; throws a 429 (RateLimited, with its Retry-After) when it goes over. */
  afterAuthentication(request: FastifyRequest, outcome: AuthenticationOutcome): Promise<void>;
}

/**
 * RATE_LIMIT_TOKEN per minute at the token, revocation and introspection
 * endpoints, answered with 429 and Retry-After; 0 turns them off. Three
 * counters, kept apart by prefix in @fastify/rate-limit's store:
 * - per IP, every request, before the body is read;
 * - per client, only once the client has authenticated, so nobody who merely
 *   knows a client_id can spend a client's allowance and lock it out;
 * - per IP × claimed client_id, failed authentications only.
 */
export function tokenRateLimits(scope: FastifyInstance, perMinute: number, telemetry?: Telemetry): TokenRateLimits {
  if (perMinute <= 0) return { onRequest: [], afterAuthentication: async () => {} };

  const claimed = new WeakMap<FastifyRequest, string>();
  const limiter = (name: 'ip' | 'client' | 'client_auth_failures', key: (request: FastifyRequest) => string) => {
    const check = scope.createRateLimit({ max: perMinute, timeWindow: 60_000, keyGenerator: key });
    return async (request: FastifyRequest) => {
      const result = await check(request);
      if (!result.isAllowed && result.isExceeded) {
        telemetry?.rateLimited(name);
        throw new RateLimited(result.ttlInSeconds);
      }
    };
  };
  const perIp = limiter('ip', (request) => `ip:${request.ip}`);
  const perClient = limiter('client', (request) => `client:${claimed.get(request) ?? ''}`);
  const failures = limiter('client_auth_failures', (request) => `fail:${request.ip}:${claimed.get(request) ?? ''}`);

  return {
    onRequest: [perIp],
    afterAuthentication: async (request, outcome) => {
      if ('authenticated' in outcome) {
        claimed.set(request, outcome.authenticated);
        await perClient(request);
      } else {
        claimed.set(request, outcome.failedClaim.slice(0, 200));
        await failures(request);
      }
    },
  };
}
