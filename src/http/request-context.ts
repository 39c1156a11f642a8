import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

/** What the code below a request may know of it without being handed the request: its address and logger. */
export interface RequestContext {
  ip: string;
  log: FastifyBaseLogger;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The request being served, if any (a CLI command has none). */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

export function registerRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    storage.run({ ip: request.ip, log: request.log }, done);
  });
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
