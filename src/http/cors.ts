import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import { API_BASE, PATHS } from '../paths.js';

/**
 * SPEC §4: the token, revocation, introspection and metadata endpoints and
 * every protected endpoint answer cross-origin requests (SPAs send bearer
 * tokens, never cookies, so any origin may call them); the authorization
 * endpoint and the pages never send CORS headers (UI-04).
 */
export function corsAllowed(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  if (path === PATHS.authorize || path.startsWith(`${PATHS.authorize}/`) || path === PATHS.endSession) return false;
  return path.startsWith(`${API_BASE}/`) || path.startsWith('/.well-known/');
}

export async function registerCors(app: FastifyInstance): Promise<void> {
  await app.register(cors, {
    delegator: (request, callback) => {
      if (!corsAllowed(request.url ?? '')) return callback(null, { origin: false });
      callback(null, {
        origin: '*',
        methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
        allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'X-Request-Id'],
        maxAge: 600,
        credentials: false,
      });
    },
  });
}
