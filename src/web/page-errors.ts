import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../oauth/errors.js';
import { isDatabaseUnavailable } from '../storage/unavailable.js';
import { sendErrorPage } from './layout.js';

/** The error handler of every HTML scope: a page naming the error, never a stack trace. */
export function sendPageError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof OAuthError) return sendErrorPage(reply, error.status >= 500 ? 500 : 400, error.code, error.message);
  const e = error as FastifyError;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (e?.code === 'FST_CSRF_INVALID_TOKEN' || e?.code === 'FST_CSRF_MISSING_SECRET') {
    return sendErrorPage(reply, 403, 'invalid_csrf_token', 'This form has expired or did not come from this site. Go back, reload the page and try again.');
  }
  if (e?.code === 'SERIKA_CROSS_SITE') return sendErrorPage(reply, 403, 'cross_site_request', e.message);
  if (status === 429) {
    return sendErrorPage(reply, 429, 'too_many_requests', 'Too many attempts from your network. Wait a minute and try again.');
  }
  if (isDatabaseUnavailable(error)) {
    request.log.warn({ err: error }, 'page refused: database unavailable');
    return sendErrorPage(reply.header('retry-after', '5'), 503, 'temporarily_unavailable', 'Serika is briefly unavailable. Please try again in a moment.');
  }
  if (status >= 400 && status < 500) return sendErrorPage(reply, status, 'invalid_request', 'The request could not be understood.');
  request.log.error({ err: error }, 'page failed');
  return sendErrorPage(reply, 500, 'server_error', 'Something went wrong on our side. Please try again.');
}
