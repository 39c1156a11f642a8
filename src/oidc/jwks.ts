import type { FastifyInstance } from 'fastify';
import { PATHS } from '../paths.js';
import type { SigningKeys } from './signing-keys.js';

/** GET /.well-known/jwks.json (RFC 7517): the public signing keys, CORS-open and cacheable for five minutes. */
export function jwksRoute(app: FastifyInstance, keys: SigningKeys): void {
  app.get(PATHS.jwks, { schema: { tags: ['oauth'], summary: 'The ID token signing keys (JWKS)' } }, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').type('application/json; charset=utf-8').send(await keys.jwks()),
  );
}
