import type { FastifyRequest } from 'fastify';
import { RateLimited } from '../http/error-class.js';
import type { RateCounter } from '../http/rate-limit-store.js';
import type { Telemetry } from '../http/telemetry.js';

const MINUTE_MS = 60_000;

/** RATE_LIMIT_LOGIN at `/login` (SPEC §1, §2; OAUTH-CASES UI-05). */
export interface LoginIpLimit {
  /**
   * Counts a sign-in against the request's address before its password is checked; throws a 429 (RateLimited,
   * with its Retry-After) when that count is past the address's failed sign-ins for the minute.
   */
  take(request: FastifyRequest): Promise<void>;
  /** Gives back the count of a sign-in taken with `take` that was not a wrong password. */
  giveBack(request: FastifyRequest): Promise<void>;
}

/**
 * Failed sign-ins per IP and minute, `perMinute` of them; successful ones are
 * never counted, so a user signing in often is never refused. Each sign-in is
 * counted (one atomic increment) before its password is checked, and given back
 * unless the password was wrong: sign-ins sent together cannot all pass the
 * limit before any of them is counted, and a refused address learns nothing
 * from its guesses. The counters live in the rate-limit store (Redis when set:
 * shared by every instance). `onLockout` runs once when an address is first
 * refused, and then at most once a minute while it keeps being refused (a
 * counter of its own), so a flood of refused requests is not a flood of audit
 * events. Null when the limit is off (0).
 */
export function loginIpLimit(
  counters: RateCounter,
  perMinute: number,
  deps: { telemetry: Telemetry; onLockout: (request: FastifyRequest, retryAfterSeconds: number) => Promise<void> },
): LoginIpLimit | null {
  if (perMinute <= 0) return null;
  const failures = (request: FastifyRequest) => `login-failures:${request.ip}`;
  return {
    async take(request) {
      const retryAfter = await counters.take(failures(request), perMinute, MINUTE_MS);
      if (retryAfter === null) return;
      deps.telemetry.rateLimited('login');
      deps.telemetry.loginFailed('ip_limited');
      const lockout = await counters.hit(`login-lockouts:${request.ip}`, MINUTE_MS);
      if (lockout.current === 1) await deps.onLockout(request, retryAfter);
      throw new RateLimited(retryAfter, 'Too many failed sign-ins from this address.');
    },
    async giveBack(request) {
      await counters.giveBack(failures(request));
    },
  };
}

/**
 * RATE_LIMIT_LOGIN also bounds posts of the reset form per IP and minute: each one guesses at a reset token as a
 * sign-in guesses at a password. Every post is counted (a person resetting posts once or twice). Null when allowed,
 * else the seconds until it is; 0 turns it off.
 */
export function takeResetAttempt(counters: RateCounter, perMinute: number, ip: string): Promise<number | null> {
  return perMinute > 0 ? counters.take(`password-reset:${ip}`, perMinute, MINUTE_MS) : Promise.resolve(null);
}

/**
 * Runs a sign-in try (a password, a second factor's code, the proof that turns one off) under the address's
 * limit: taken before it is checked, given back unless `attempt` calls `wrong`. One counter for all of them,
 * so an address cannot guess codes at full speed beside its passwords.
 */
export async function underLoginLimit<T>(limit: LoginIpLimit | null, request: FastifyRequest, attempt: (wrong: () => void) => Promise<T>): Promise<T> {
  await limit?.take(request);
  let wrong = false;
  try {
    return await attempt(() => (wrong = true));
  } finally {
    if (!wrong) await limit?.giveBack(request);
  }
}
