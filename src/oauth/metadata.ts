import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { PATHS } from '../paths.js';
import { SIGNING_ALGS } from '../oidc/signing-algs.js';
import { IGNORED_SCOPES, SCOPE_NAMES } from '../scopes.js';
import { ORIGIN, RESOURCE_PATHS, protectedResource } from '../audiences.js';
import { GRANT_TYPE_NAMES } from '../clients/rules.js';
import { BUDGET_TYPE } from '../consent/budget-rules.js';
import { CHARACTERS_TYPE } from '../consent/character-choice.js';
import { ACR_VALUES_SUPPORTED } from '../accounts/auth-methods.js';

/** The claims an ID token or userinfo may hold (SPEC §7). */
const CLAIMS = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'sid', 'amr', 'acr', 'preferred_username', 'name', 'picture', 'email', 'email_verified'];

/**
 * RFC 8414 §2 authorization server metadata and OpenID Connect Discovery 1.0
 * §3 provider metadata: one document, served at both addresses so they agree
 * field for field; the issuer is PUBLIC_URL exactly (MD-01).
 */
function authorizationServerMetadata(config: Config) {
  const base = config.publicUrl;
  return {
    issuer: base,
    authorization_endpoint: base + PATHS.authorize,
    token_endpoint: base + PATHS.token,
    revocation_endpoint: base + PATHS.revoke,
    introspection_endpoint: base + PATHS.introspect,
    userinfo_endpoint: base + PATHS.userinfo,
    jwks_uri: base + PATHS.jwks,
    end_session_endpoint: base + PATHS.endSession,
    // OpenID Back-Channel Logout 1.0 §2.1 (SPEC §13): logout tokens, always with sid.
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    ...(config.registration === 'open' ? { registration_endpoint: base + PATHS.register } : {}),
    device_authorization_endpoint: base + PATHS.deviceAuthorization,
    scopes_supported: [...SCOPE_NAMES, ...IGNORED_SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANT_TYPE_NAMES],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...SIGNING_ALGS],
    claims_supported: CLAIMS,
    prompt_values_supported: ['none', 'login', 'consent'],
    // SPEC §11: acr_values may ask for the multi-factor policy.
    acr_values_supported: [...ACR_VALUES_SUPPORTED],
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    claims_parameter_supported: false,
    service_documentation: `${base}/docs`,
    // RFC 8707 resource indicators: the resources tokens may be asked for (RFC 9728 §4), and the
    // (unregistered, widely read) flag saying `resource` is understood.
    protected_resources: [ORIGIN, ...RESOURCE_PATHS].map((p) => protectedResource(base, p).uri),
    resource_indicators_supported: true,
    client_id_metadata_document_supported: config.cimd,
    // RFC 9396 §10: the spending limit of SPEC §10 and the characters of SPEC §15.
    authorization_details_types_supported: [BUDGET_TYPE, CHARACTERS_TYPE],
  };
}

export function metadataRoute(app: FastifyInstance, config: Config): void {
  const document = authorizationServerMetadata(config);
  for (const [url, summary] of [
    [PATHS.metadata, 'Authorization server metadata (RFC 8414)'],
    [PATHS.openidConfiguration, 'OpenID Provider configuration (OpenID Connect Discovery 1.0)'],
  ] as const) {
    app.get(url, { schema: { tags: ['oauth'], summary } }, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(document));
  }
}
