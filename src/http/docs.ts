import { VERSION } from '../version.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ADMIN, ADMIN_API, API_BASE, PATHS } from '../paths.js';

/**
 * The console's pages (SPEC §12): a non-admin gets the 404 of an unknown route there, so the public document must
 * not list them either (web/admin/common.ts). Their JSON API, for admins' keys, is documented.
 */
function consolePage(url: string): boolean {
  return (url === ADMIN.root || url.startsWith(`${ADMIN.root}/`)) && !(url === ADMIN_API.base || url.startsWith(`${ADMIN_API.base}/`));
}

/**
 * The OpenAPI document is generated from the route schemas; register this
 * before any route so every route is seen. The UI at /docs is served from
 * the package's own files (no CDN).
 */
export async function registerDocs(app: FastifyInstance, publicUrl: () => string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Serika API',
        version: VERSION,
        description:
          'Serika is an OpenAI-compatible AI platform API around a full OAuth 2.0 authorization server. ' +
          `Everything but the pages and operations endpoints lives under ${API_BASE}. ` +
          'The client-management API authenticates with an API key: `Authorization: Bearer YOUR_KEY` ' +
          '(create one with `npx serika keys create --username U`).',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'A Serika API key (sk-serika-…).' },
          accessToken: { type: 'http', scheme: 'bearer', description: 'An OAuth access token (serika_at_…).' },
        },
      },
      tags: [
        { name: 'clients', description: 'Register and manage OAuth clients (SPEC §3).' },
        { name: 'oauth', description: 'The OAuth 2.0 authorization server (SPEC §4).' },
        { name: 'resources', description: 'What an access token reaches (SPEC §5).' },
        { name: 'characters', description: "The user's characters, with an API key (SPEC §2)." },
        { name: 'generation', description: 'Chat, images, models and usage with an API key (SPEC §2, §5).' },
        { name: 'operations', description: 'Health and readiness.' },
        { name: 'admin', description: "The operator's API, with an admin's API key (SPEC §12)." },
      ],
    },
    transform: ({ schema, url }) => ({ schema: consolePage(url) ? { ...schema, hide: true } : (schema ?? {}), url }),
    transformObject: (documentObject) => {
      const spec = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      return { ...spec, servers: [{ url: publicUrl() }] };
    },
  });
  await app.register(swaggerUi, {
    routePrefix: PATHS.docs,
    uiConfig: { docExpansion: 'list', deepLinking: true },
    // A page like the others: never framed, never leaking its URL (UI-02, UI-03).
    uiHooks: {
      onRequest: (_request, reply, done) => {
        reply
          .header('x-frame-options', 'DENY')
          .header('content-security-policy', "frame-ancestors 'none'; object-src 'none'; base-uri 'none'")
          .header('referrer-policy', 'no-referrer');
        done();
      },
    },
  });
  app.get(PATHS.openapi, { schema: { hide: true } }, async () => app.swagger());
}
