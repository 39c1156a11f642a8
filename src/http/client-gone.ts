import type { FastifyRequest } from 'fastify';

/**
 * The client hung up while its request was being read (Node reports an
 * `aborted` ECONNRESET): nobody is left to answer, and it is not a database
 * outage, whatever the code says.
 */
export function isClientGone(error: unknown, request: FastifyRequest): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (request.raw.aborted || request.raw.socket?.destroyed) return true;
  return e?.code === 'ECONNRESET' && typeof e.message === 'string' && /aborted/i.test(e.message);
}
