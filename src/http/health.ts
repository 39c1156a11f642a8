import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Storage } from '../storage/database.js';
import { PATHS } from '../paths.js';

const statusSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, database: { type: 'string' }, redis: { type: 'string' } },
} as const;

/** Redis as readiness reports it: optional, so "down" never makes the instance unready. */
export function redisState(redis: Redis | null): 'ok' | 'down' | 'off' {
  if (!redis) return 'off';
  return redis.status === 'ready' ? 'ok' : 'down';
}

/**
 * Liveness says the process answers; readiness says the database does too,
 * and turns 503 the moment a shutdown starts draining, so a load balancer
 * stops sending work before the instance stops accepting it (SPEC §1).
 */
export function registerHealth(app: FastifyInstance, storage: Storage, deps: { redis: Redis | null; draining: () => boolean }): void {
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
        summary: 'Readiness: the database is reachable and the instance is not shutting down; Redis (optional) is reported',
        response: { 200: statusSchema, 503: statusSchema },
      },
    },
    async (request, reply) => {
      const redis = redisState(deps.redis);
      if (deps.draining()) return reply.code(503).send({ status: 'draining', database: 'ok', redis });
      try {
        await storage.ping(2000);
        return { status: 'ok', database: 'ok', redis };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed: database unreachable');
        return reply.code(503).send({ status: 'unavailable', database: 'unreachable', redis });
      }
    },
  );
}
