import type { FastifyBaseLogger } from 'fastify';

/**
 * Where a request came from, as the services that record security events
 * need it: its address and its logger (a Fastify request is one). Passed
 * explicitly: AsyncLocalStorage's promise hooks would tax every request of
 * every route for the few that audit (bench/NOTES.md).
 */
export interface RequestOrigin {
  ip: string;
  log: FastifyBaseLogger;
  /** The request's id (its log lines' reqId), when known. */
  id?: string;
}

/**
 * Adds who the request acts for to every later log line of it, the request's
 * completion line included (pino child bindings).
 */
export function identify(log: FastifyBaseLogger, ids: { userId?: string; clientId?: string | null; apiKeyId?: string }): void {
  // Rebinding a logger is not free on the hot path: only when request lines are written at all.
  const logger = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean; setBindings?: (b: Record<string, unknown>) => void };
  if (logger.isLevelEnabled?.('info') === false) return;
  const bindings = Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== undefined && v !== null));
  logger.setBindings?.(bindings);
}
