import type { FastifyReply } from 'fastify';

/**
 * How long a client waits before retrying a request refused because the
 * database (or a service behind it) is briefly unavailable: SPEC §6 names
 * no value, and an outage that outlasts it is met by the next 503.
 */
export const UNAVAILABLE_RETRY_AFTER = 1;

/** RFC 9110 §10.2.3: delay-seconds, a whole number; a limit that lifts within the second still says 1, never 0. */
export function retryAfterValue(seconds: number): string {
  return String(Math.max(1, Math.ceil(seconds)));
}

/** The one place a Retry-After header is set (RFC 9110 §10.2.3, RFC 6585 §4). */
export function setRetryAfter(reply: FastifyReply, seconds: number): FastifyReply {
  return reply.header('retry-after', retryAfterValue(seconds));
}
