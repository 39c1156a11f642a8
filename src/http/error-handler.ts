import type { FastifyReply, FastifyRequest } from 'fastify';
import { classifyError, type ErrorClass } from './error-class.js';
import { setRetryAfter } from './retry-after.js';

/** A wire format of errors: it renders a classification, and decides nothing about logs or Retry-After. */
export type ErrorRenderer = (error: ErrorClass, reply: FastifyReply) => FastifyReply;

/**
 * The one log rule: a client gone is worth an info line, an outage a warning,
 * a fault of ours an error with its stack; a refused or throttled request is
 * the client's business and is not logged (the request line has its status).
 */
function logErrorClass(request: FastifyRequest, error: ErrorClass, cause: unknown): void {
  switch (error.kind) {
    case 'client_gone':
      request.log.info('client closed the connection before its request was read');
      return;
    case 'unavailable':
      request.log.warn({ err: cause }, 'request refused: service unavailable');
      return;
    case 'server_error':
      request.log.error({ err: cause }, 'request failed');
      return;
    case 'rate_limited':
    case 'client_error':
      return;
  }
}

/**
 * A Fastify error handler in one format: the error is classified once, logged
 * and given its Retry-After (the limit's own wait, or UNAVAILABLE_RETRY_AFTER)
 * by the rules here, then rendered.
 */
export function errorHandler(render: ErrorRenderer): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (cause, request, reply) => {
    const error = classifyError(cause, request);
    logErrorClass(request, error, cause);
    if ((error.kind === 'unavailable' || error.kind === 'rate_limited') && error.retryAfter !== null) setRetryAfter(reply, error.retryAfter);
    return render(error, reply);
  };
}
