import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientError, ErrorClass } from '../../http/error-class.js';
import { errorHandler } from '../../http/error-handler.js';
import { OAuthError } from './errors.js';

/** A request the framework refused (a malformed body, an unsupported content type): invalid_request (TK-15). */
function refusedRequest(error: ClientError): OAuthError {
  const description =
    error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
      ? 'Send application/x-www-form-urlencoded or application/json.'
      : error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'The request body is too large.'
        : error.coded === null && error.message !== null
          ? error.message // our body parser's words
          : 'The request body is malformed.';
  return new OAuthError('invalid_request', description, { status: error.status === 413 ? 413 : 400 });
}

/** The RFC 6749 §5.2 error a client is told, for each kind of error; an OAuthError is told as it is. */
export function toOAuthError(error: ErrorClass): OAuthError {
  if (error.kind !== 'client_gone' && error.coded instanceof OAuthError) return error.coded;
  switch (error.kind) {
    case 'client_gone':
      return new OAuthError('invalid_request', 'The request was cut off.');
    case 'unavailable':
      return new OAuthError('temporarily_unavailable', 'The service is temporarily unavailable; try again shortly.');
    case 'rate_limited':
      return new OAuthError('invalid_request', 'Too many requests; retry later.', { status: 429 });
    case 'client_error':
      return refusedRequest(error);
    case 'server_error':
      return new OAuthError('server_error', 'The server had an error while processing the request.');
  }
}

/** Sends an OAuthError as RFC 6749 §5.2 JSON, with its challenge when it has one. */
export function sendOAuthJson(reply: FastifyReply, oauth: OAuthError): FastifyReply {
  if (oauth.wwwAuthenticate) reply.header('www-authenticate', oauth.wwwAuthenticate);
  return reply
    .code(oauth.status)
    .type('application/json; charset=utf-8')
    .send({ error: oauth.code, error_description: oauth.message });
}

/**
 * The error handler of the JSON OAuth endpoints (token, revocation,
 * introspection, device authorization): RFC 6749 §5.2 bodies.
 */
export const sendOAuthJsonError = oauthJsonErrors();

/** Told of every error these endpoints answer (SPEC §12's recent errors); it must not throw or wait. */
export type OAuthErrorListener = (request: FastifyRequest, error: OAuthError) => void;

/** The JSON OAuth endpoints' error handler, telling `heard` of each error as it is rendered. */
export function oauthJsonErrors(heard?: OAuthErrorListener): ReturnType<typeof errorHandler> {
  return errorHandler((error, reply) => {
    const oauth = toOAuthError(error);
    if (heard && error.kind !== 'client_gone') heard(reply.request, oauth);
    return sendOAuthJson(reply, oauth);
  });
}
