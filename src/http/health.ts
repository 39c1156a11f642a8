import type { FastifyInstance } from 'fastify';
import type { Storage } from '../storage/database.js';
import { PATHS } from '../paths.js';

const statusSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, database: { type: 'string' } },
} as const;

/** Liveness says the process answers; readiness says the database does too (SPEC §6). */
export function registerHealth(app: FastifyInstance, storage: Storage): void {
  app.get(
    PATHS.healthz,
    { schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: statusSchema } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    PATHS.readyz,
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the database is reachable',
        response: { 200: statusSchema, 503: statusSchema },
      },
    },
    async (request, reply) => {
      try {
        await storage.ping(2000);
        return { status: 'ok', database: 'ok' };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed: database unreachable');
        return reply.code(503).send({ status: 'unavailable', database: 'unreachable' });
      }
    },
  );
}
