import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../../storage/unavailable.js';
import { statusOf } from '../../errors.js';
import { isClientGone } from '../../http/client-gone.js';
import { InvalidBody } from '../../http/json-body.js';
import { OAuthError } from './errors.js';

/**
 * The error handler of the JSON OAuth endpoints (token, revocation,
 * introspection): RFC 6749 §5.2 bodies. Framework errors (a malformed body,
 * an unsupported content type) become invalid_request (TK-15).
 */
export function sendOAuthJsonError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let oauth: OAuthError;
  if (error instanceof OAuthError) oauth = error;
  else {
    const e = error as FastifyError;
    const status = statusOf(error);
    if (isClientGone(error, request)) {
      request.log.info('client closed the connection before its request was read');
      oauth = new OAuthError('invalid_request', 'The request was cut off.');
    } else if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: error }, 'OAuth request refused: database unavailable');
      reply.header('retry-after', '1');
      oauth = new OAuthError('temporarily_unavailable', 'The service is temporarily unavailable; try again shortly.');
    } else if (status === 429) {
      oauth = new OAuthError('invalid_request', 'Too many requests; retry later.', { status: 429 });
    } else if (status >= 400 && status < 500) {
      const description =
        e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'Send application/x-www-form-urlencoded or application/json.'
          : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? 'The request body is too large.'
            : error instanceof InvalidBody
              ? error.message
              : 'The request body is malformed.';
      oauth = new OAuthError('invalid_request', description, { status: status === 413 ? 413 : 400 });
    } else {
      request.log.error({ err: error }, 'OAuth endpoint failed');
      oauth = new OAuthError('server_error', 'The server had an error while processing the request.');
    }
  }
  if (oauth.wwwAuthenticate) reply.header('www-authenticate', oauth.wwwAuthenticate);
  return reply
    .code(oauth.status)
    .type('application/json; charset=utf-8')
    .send({ error: oauth.code, error_description: oauth.message });
}
