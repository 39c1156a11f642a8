import type { FastifyInstance } from 'fastify';
import { API_BASE, PATHS } from '../paths.js';

/**
 * SPEC §4: the token, revocation, introspection and metadata endpoints and
 * every protected endpoint answer cross-origin requests (SPAs send bearer
 * tokens, never cookies, so any origin may call them); the authorization
 * endpoint and the pages never send CORS headers (UI-04).
 */
export function corsAllowed(url: string): boolean {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (path === PATHS.authorize || path.startsWith(`${PATHS.authorize}/`) || path === PATHS.endSession) return false;
  return path.startsWith(`${API_BASE}/`) || path.startsWith('/.well-known/');
}

/** What an answer carries where CORS is allowed. */
export const CORS_ANSWER = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'WWW-Authenticate, Retry-After, X-Request-Id',
};
const PREFLIGHT = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type, X-Request-Id',
  'access-control-max-age': '600',
};

/**
 * The CORS headers, fixed by path: `*`, never credentials (Fetch §3.2).
 * Written here rather than with @fastify/cors, whose per-path options
 * (its delegator) rebuild and merge option objects on every request
 * (bench/NOTES.md).
 */
export function registerCors(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (!corsAllowed(request.url)) return done();
    // A preflight is answered before any authentication: the browser sends it without credentials.
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      reply.code(204).headers(PREFLIGHT).send();
      return;
    }
    reply.headers(CORS_ANSWER);
    done();
  });
  // Preflights reach the hook above through this route; other OPTIONS requests are not found.
  app.options('*', { schema: { hide: true } }, (_request, reply) => {
    reply.callNotFound();
  });
}
