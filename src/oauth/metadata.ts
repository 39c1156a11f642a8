import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { PATHS } from '../paths.js';
import { IGNORED_SCOPES, SCOPE_NAMES } from '../scopes.js';

/** RFC 8414 §2 authorization server metadata; the issuer is PUBLIC_URL exactly (MD-01). */
export function authorizationServerMetadata(config: Config) {
  const base = config.publicUrl;
  return {
    issuer: base,
    authorization_endpoint: base + PATHS.authorize,
    token_endpoint: base + PATHS.token,
    revocation_endpoint: base + PATHS.revoke,
    introspection_endpoint: base + PATHS.introspect,
    userinfo_endpoint: base + PATHS.userinfo,
    scopes_supported: [...SCOPE_NAMES, ...IGNORED_SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    service_documentation: `${base}/docs`,
  };
}

export function metadataRoute(app: FastifyInstance, config: Config): void {
  app.get(PATHS.metadata, { schema: { tags: ['oauth'], summary: 'Authorization server metadata (RFC 8414)' } }, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(authorizationServerMetadata(config)),
  );
}
