import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The pages' CSS and browser JS: real files in src/web/assets (linted with
 * the rest), served from the source tree by both the built server (dist/) and
 * the tests (src/), with an hour of caching and ETags.
 */
const ASSETS_DIR = fileURLToPath(new URL('../../src/web/assets/', import.meta.url));

/** Where the pages load @simplewebauthn/browser from: Serika's own origin (CSP script-src 'self', no third-party request). */
export const WEBAUTHN_BROWSER_ASSET = '/assets/vendor/simplewebauthn-browser.umd.min.js';

/** The package's own browser bundle (a UMD build defining SimpleWebAuthnBrowser), found beside its CommonJS entry. */
function webauthnBrowserBundle(): Buffer {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return readFileSync(join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'));
}

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
  const bundle = webauthnBrowserBundle();
  scope.get(WEBAUTHN_BROWSER_ASSET, { schema: { hide: true } }, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').type('application/javascript; charset=utf-8').send(bundle),
  );
}
