import type { FastifyInstance } from 'fastify';
import { SCRIPT } from './script.js';
import { STYLESHEET } from './styles.js';

export function assetRoutes(scope: FastifyInstance): void {
  scope.get('/assets/serika.css', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  );
  scope.get('/assets/serika.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(SCRIPT),
  );
}
