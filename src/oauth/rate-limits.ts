import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from 'fastify';
import { field } from '../http/form-body.js';
import { parseBasic } from './client-auth.js';

/** The client a token-endpoint request speaks for, read without judging it (Basic or body client_id). */
export function claimedClientId(request: FastifyRequest): string | undefined {
  try {
    return parseBasic(request.headers.authorization)?.id ?? field(request.body, 'client_id');
  } catch {
    return field(request.body, 'client_id');
  }
}

class TooManyRequests extends Error {
  readonly statusCode = 429;
}

/**
 * RATE_LIMIT_TOKEN per minute at the token, revocation and introspection
 * endpoints, counted per IP (before the body is read) and per client (after),
 * each answered with 429 and Retry-After. 0 turns both off. Both counters
 * live in @fastify/rate-limit's store, keyed apart by prefix.
 */
export function tokenRateLimits(scope: FastifyInstance, perMinute: number): { onRequest: onRequestHookHandler[]; preHandler: preHandlerHookHandler[] } {
  if (perMinute <= 0) return { onRequest: [], preHandler: [] };
  const check = (keyOf: (request: FastifyRequest) => string | undefined) => {
    const limiter = scope.createRateLimit({
      max: perMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => keyOf(request) ?? '',
      allowList: (request) => keyOf(request) === undefined,
    });
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const result = await limiter(request);
      if (!result.isAllowed && result.isExceeded) {
        reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)));
        throw new TooManyRequests('Too many requests; retry later.');
      }
    };
  };
  return {
    onRequest: [check((request) => `ip:${request.ip}`)],
    preHandler: [check((request) => {
      const id = claimedClientId(request);
      return id === undefined ? undefined : `client:${id}`;
    })],
  };
}
