import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';

/**
 * The pages' CSS and browser JS: real files in src/web/assets (linted with
 * the rest), served from the source tree by both the built server (dist/) and
 * the tests (src/), with an hour of caching and ETags.
 */
const ASSETS_DIR = fileURLToPath(new URL('../../src/web/assets/', import.meta.url));

export async function assetRoutes(scope: FastifyInstance): Promise<void> {
  await scope.register(fastifyStatic, {
    root: ASSETS_DIR,
    prefix: '/assets/',
    schemaHide: true,
    maxAge: '1h',
    etag: true,
    lastModified: true,
    index: false,
    list: false,
    decorateReply: false,
  });
}
