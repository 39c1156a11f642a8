import type { FastifyInstance, FastifyReply } from 'fastify';
import { ORIGIN, RESOURCES, RESOURCE_PATHS, protectedResource, type ResourcePath } from '../audiences.js';
import { PATHS } from '../paths.js';

/** The scopes an agent needs at Serika's resources (sign-in scopes, openid and email, are the apps' business). */
const RESOURCE_SCOPES = ['profile', 'generations', 'characters'] as const;

/** RFC 9728 §2: what a client needs to know to get a token for the resource at `path` ("/" is the origin). */
function protectedResourceMetadata(publicUrl: string, path: string) {
  const resource = protectedResource(publicUrl, path);
  const known = path === ORIGIN ? null : RESOURCES[path as ResourcePath];
  return {
    resource: resource.uri,
    authorization_servers: [publicUrl],
    scopes_supported: [...RESOURCE_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: known?.name ?? 'Serika',
    resource_documentation: publicUrl + (known?.documentation ?? PATHS.docs),
  };
}

/**
 * RFC 9728 §3: the metadata of the API, the MCP server and the origin
 * (every resource), each at the well-known prefix followed by its path.
 * CORS-open like every /.well-known document (http/cors.ts).
 */
export function protectedResourceMetadataRoutes(app: FastifyInstance, publicUrl: string): void {
  for (const path of [ORIGIN, ...RESOURCE_PATHS]) {
    const document = protectedResourceMetadata(publicUrl, path);
    const url = PATHS.protectedResourceMetadata + (path === ORIGIN ? '' : path);
    const send = async (_request: unknown, reply: FastifyReply) => reply.header('cache-control', 'public, max-age=300').send(document);
    app.get(url, { schema: { tags: ['oauth'], summary: `Protected resource metadata (RFC 9728): ${document.resource_name}` } }, send);
    // Clients that keep the resource's trailing slash ask here; the resource is the same (SPEC §8).
    if (path !== ORIGIN) app.get(`${url}/`, { schema: { hide: true } }, send);
  }
}
