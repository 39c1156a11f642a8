import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';
import { sendOpenAIError } from './http/openai-errors.js';
import { sendOAuthJsonError } from './oauth/json-errors.js';
import { OAuthError } from './oauth/errors.js';
import { API_BASE, MCP_PATH, PATHS } from './paths.js';
import { sendPageError } from './web/page-errors.js';

export type ErrorFormat = 'oauth-json' | 'openai' | 'page';

const OAUTH_JSON = new Set<string>([PATHS.token, PATHS.revoke, PATHS.introspect, PATHS.register, PATHS.deviceAuthorization]);

/**
 * Which wire format a path answers errors in, decided by the path alone so
 * that errors raised before routing (a bad URL, an unknown route) still
 * answer like the endpoint: RFC 6749 §5.2 JSON at the token endpoints, an
 * HTML page at the authorization endpoint and the pages, OpenAI-style JSON
 * everywhere else under the API and at the JSON operations endpoints.
 */
export function errorFormatFor(url: string): ErrorFormat {
  const path = url.split('?')[0] ?? '';
  if (OAUTH_JSON.has(path)) return 'oauth-json';
  if (path === PATHS.authorize || path.startsWith(`${PATHS.authorize}/`) || path === PATHS.endSession) return 'page';
  if (path === API_BASE || path.startsWith(`${API_BASE}/`) || path === MCP_PATH) return 'openai';
  if (path.startsWith('/.well-known/') || path === PATHS.healthz || path === PATHS.readyz || path === PATHS.metrics || path.startsWith(`${PATHS.docs}/`)) {
    return 'openai';
  }
  return 'page';
}

/** Sends an error in the format of the endpoint the request addressed. */
export function sendErrorFor(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  switch (errorFormatFor(request.url)) {
    case 'oauth-json':
      return sendOAuthJsonError(error, request, reply);
    case 'openai':
      return sendOpenAIError(error, request, reply);
    case 'page':
      return sendPageError(error, request, reply);
  }
}

/**
 * Errors Fastify raises before a route is found (a malformed percent-encoding,
 * an overlong path parameter): the hooks have not run, so the request id is
 * set here.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Pages get their headers from sendPage, like every page.
  reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
  const format = errorFormatFor(request.url);
  // An ID longer than any we mint names nothing: 404, as for any unknown ID.
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendErrorFor(new AppError('not_found', 'Nothing has this ID.'), request, reply);
  }
  if (error.code !== 'FST_ERR_BAD_URL') return sendErrorFor(error, request, reply);
  const message = 'The request URL is not valid (bad percent-encoding).';
  if (format === 'oauth-json') return sendOAuthJsonError(new OAuthError('invalid_request', message), request, reply);
  return sendErrorFor(new AppError('invalid_request', message), request, reply);
}

/** Unknown routes, and methods a path does not have (OPTIONS on a page included), in the path's format. */
export function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0]?.slice(0, 200);
  return sendErrorFor(new AppError('not_found', `Unknown route: ${request.method} ${path}.`), request, reply);
}
