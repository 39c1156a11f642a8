import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { AppError } from './errors.js';
import { CORS_ANSWER, corsAllowed } from './http/cors.js';
import { openAIErrorBody, sendOpenAIError } from './http/openai-errors.js';
import { sendOAuthJsonError } from './oauth/protocol/json-errors.js';
import { OAuthError } from './oauth/protocol/errors.js';
import { ADMIN_API, API_BASE, MCP_PATH, PATHS } from './paths.js';
import { layout, PAGE_HEADERS } from './web/layout.js';
import { errorPage, sendPageError } from './web/page-errors.js';

type ErrorFormat = 'oauth-json' | 'openai' | 'page';

const OAUTH_JSON = new Set<string>([PATHS.token, PATHS.revoke, PATHS.introspect, PATHS.register, PATHS.deviceAuthorization]);

/**
 * Which wire format a path answers errors in, decided by the path alone so
 * that errors raised before routing (a bad URL, an unknown route) still
 * answer like the endpoint: RFC 6749 §5.2 JSON at the token endpoints, an
 * HTML page at the authorization endpoint and the pages, OpenAI-style JSON
 * everywhere else under the API and at the JSON operations endpoints.
 */
function errorFormatFor(url: string): ErrorFormat {
  const path = url.split('?')[0] ?? '';
  if (OAUTH_JSON.has(path)) return 'oauth-json';
  if (path === PATHS.authorize || path.startsWith(`${PATHS.authorize}/`) || path === PATHS.endSession) return 'page';
  if (path === API_BASE || path.startsWith(`${API_BASE}/`) || path === MCP_PATH) return 'openai';
  if (path === ADMIN_API.base || path.startsWith(`${ADMIN_API.base}/`)) return 'openai';
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

/**
 * RFC 9112 §3.2.2: a server accepts a request target in absolute form
 * (`GET http://host/path`). It is served as its path and query, so every
 * rule that reads the URL (routing, error formats, the authorize request)
 * sees what an origin-form request would show. Fastify's rewriteUrl: one
 * character compared for an ordinary request.
 */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47) return url;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  if (!authority) return url;
  const rest = url.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** Why Node refused a connection's request before Fastify saw it, as a status and our own words. */
function refusalOf(code: string | undefined): [number, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'The request line and headers are larger than this server accepts.'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'The request did not arrive in time.'];
  return [400, 'The request is not valid HTTP.'];
}

/** The path a refused request named, when the bytes Node could not parse begin with its request line. */
function targetOf(raw: Buffer | undefined): string {
  const line = /^[A-Z]+ ([^\s]+)/.exec(raw?.subarray(0, 8192).toString('latin1') ?? '');
  return line ? originForm(line[1]!) : '';
}

/** A whole HTTP/1.1 response refusing a request in its endpoint's format, with a fresh request id. */
function refusalResponse(path: string, status: number, message: string, requestId: string): string {
  let type = 'application/json; charset=utf-8';
  let headers: Record<string, string> = {};
  let body: string;
  switch (errorFormatFor(path)) {
    case 'oauth-json':
      headers = { 'cache-control': 'no-store' };
      body = JSON.stringify({ error: 'invalid_request', error_description: message });
      break;
    case 'openai':
      body = JSON.stringify(openAIErrorBody(new AppError('invalid_request', message, null, status)));
      break;
    case 'page':
      type = 'text/html; charset=utf-8';
      headers = PAGE_HEADERS;
      body = layout(errorPage('invalid_request', message));
      break;
  }
  if (corsAllowed(path)) headers = { ...headers, ...CORS_ANSWER };
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`, `x-request-id: ${requestId}`, 'x-content-type-options: nosniff'];
  for (const [name, value] of Object.entries(headers)) if (name !== 'x-content-type-options') lines.push(`${name}: ${value}`);
  lines.push(`content-type: ${type}`, `content-length: ${Buffer.byteLength(body)}`, 'connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Fastify's clientErrorHandler: requests Node refuses before routing (a head
 * over the size limit, 431; a request that is not HTTP, 400; one that does
 * not arrive in time, 408) answered in the format of the endpoint they named
 * and with an X-Request-Id, like every other refusal (SPEC §6). Node hands
 * over only the bytes it was parsing: when the request line came in an
 * earlier packet the endpoint is unknown, and the page format answers.
 * Fastify calls it with the app as `this`.
 */
export function handleClientError(this: { log: FastifyBaseLogger }, error: Error, socket: Socket): void {
  const { code, rawPacket } = error as Error & { code?: string; rawPacket?: Buffer };
  if (code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = refusalOf(code);
  const requestId = randomUUID();
  const path = targetOf(Buffer.isBuffer(rawPacket) ? rawPacket : undefined);
  this.log.info({ reqId: requestId, url: path.split('?')[0] || undefined, statusCode: status, code }, 'request refused before it was read');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(refusalResponse(path, status, message, requestId), () => socket.destroy());
}
