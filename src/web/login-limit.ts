import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Telemetry } from '../http/telemetry.js';

const MINUTE_MS = 60_000;

class TooManySignIns extends Error {
  readonly statusCode = 429;
}

/** RATE_LIMIT_LOGIN at `/login` (SPEC §1, §2; OAUTH-CASES UI-05). */
export interface LoginIpLimit {
  /** Throws a 429 (with Retry-After) when the request's address has used up its failed sign-ins for the minute. */
  check(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Counts a failed sign-in against the request's address. */
  failed(request: FastifyRequest): Promise<void>;
}

/**
 * Failed sign-ins per IP and minute, `perMinute` of them; successful ones are
 * never counted, so a user signing in often is never refused. A request is
 * refused before its password is checked, so a refused address learns nothing
 * from its guesses. The counters live in the rate-limit store (Redis when set:
 * shared by every instance). `onLockout` runs once when an address is first
 * refused, and then at most once a minute while it keeps being refused (a
 * counter of its own), so a flood of refused requests is not a flood of audit
 * events. Null when the limit is off (0).
 */
export function loginIpLimit(
  scope: FastifyInstance,
  perMinute: number,
  deps: { telemetry: Telemetry; onLockout: (request: FastifyRequest, retryAfterSeconds: number) => Promise<void> },
): LoginIpLimit | null {
  if (perMinute <= 0) return null;
  const failures = scope.createRateLimit({ max: perMinute, timeWindow: MINUTE_MS, keyGenerator: (request) => `login-failures:${request.ip}` });
  const lockouts = scope.createRateLimit({ max: 1, timeWindow: MINUTE_MS, keyGenerator: (request) => `login-lockouts:${request.ip}` });
  return {
    async check(request, reply) {
      // A peek: only failures count (increment: false reads the count without adding to it).
      const state = await failures(request, { increment: false });
      if (state.isAllowed || state.remaining > 0) return;
      deps.telemetry.rateLimited('login');
      const retryAfter = Math.max(1, state.ttlInSeconds);
      const lockout = await lockouts(request);
      if (!lockout.isAllowed && !lockout.isExceeded) await deps.onLockout(request, retryAfter);
      reply.header('retry-after', String(retryAfter));
      throw new TooManySignIns('Too many failed sign-ins from this address.');
    },
    async failed(request) {
      await failures(request);
    },
  };
}
