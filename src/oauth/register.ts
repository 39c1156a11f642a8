import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientMetadataError } from '../clients/client-metadata.js';
import type { ClientRegistration } from '../clients/registration.js';
import type { ErrorClass } from '../http/error-class.js';
import { errorHandler } from '../http/error-handler.js';
import type { Telemetry } from '../http/telemetry.js';
import { API } from '../paths.js';
import { OAuthError } from './protocol/errors.js';
import { sendOAuthJson, toOAuthError } from './protocol/json-errors.js';

export interface RegisterDeps {
  registration: ClientRegistration;
  open: boolean;
  /** RATE_LIMIT_REGISTER: registrations per IP per hour; 0 is no limit. */
  perHour: number;
  telemetry?: Telemetry;
}

/** 1 MB of client_name must be read to be refused as RFC 7591 says (400), not cut off as a 413. */
const BODY_LIMIT = 2 * 1024 * 1024;

/**
 * RFC 7591 §3.2.2 errors: invalid_redirect_uri and invalid_client_metadata,
 * 400. A body that is not a JSON object is invalid_client_metadata too;
 * rate limits, outages and a body over the limit (413) keep their RFC 6749
 * §5.2 answers.
 */
function toRegistrationError(error: ErrorClass): OAuthError {
  if (error.kind !== 'client_error' || error.coded instanceof OAuthError || error.status === 413) return toOAuthError(error);
  const description =
    error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
      ? 'Send the client metadata as application/json (RFC 7591 §3.1).'
      : error.coded === null && error.message !== null
        ? error.message // our body parser's words
        : 'The request body is not valid JSON.';
  return new OAuthError('invalid_client_metadata', description);
}

const sendRegistrationErrorClass = errorHandler((error, reply) => sendOAuthJson(reply, toRegistrationError(error)));

/** The error handler of the registration endpoint: the metadata's own errors become their RFC 7591 codes. */
function sendRegistrationError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendRegistrationErrorClass(error instanceof ClientMetadataError ? new OAuthError(error.code, error.message) : error, request, reply);
}

/** POST /oauth/register (RFC 7591, SPEC §8): open unless REGISTRATION=closed, CORS-open, limited per IP. */
export async function registerRoute(scope: FastifyInstance, deps: RegisterDeps): Promise<void> {
  scope.setErrorHandler(sendRegistrationError);
  scope.addHook('onSend', async (_request, reply) => {
    // The answer holds a client secret.
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  });
  const limit = deps.perHour > 0 ? scope.createRateLimit({ max: deps.perHour, timeWindow: 3_600_000, keyGenerator: (request) => `register:${request.ip}` }) : null;

  scope.post(
    API.register,
    {
      bodyLimit: BODY_LIMIT,
      schema: {
        tags: ['oauth'],
        summary: 'Dynamic client registration (RFC 7591)',
        description:
          'JSON client metadata: redirect_uris (required), client_name, token_endpoint_auth_method (none, client_secret_basic, client_secret_post), grant_types, response_types, scope, client_uri, logo_uri, policy_uri, tos_uri (https), contacts (e-mail addresses), … The logo is fetched once and served from Serika itself; one that cannot be had leaves the app without a logo. Answers 201 with client_id (and client_secret for confidential clients). Registered clients have no owner, are shown as unverified, always ask consent, and are deleted after 30 days without a grant.',
      },
    },
    async (request, reply) => {
      if (!deps.open) throw new OAuthError('access_denied', 'Dynamic client registration is closed on this server (REGISTRATION=closed); ask its operator for a client.');
      if (limit) {
        const result = await limit(request);
        if (!result.isAllowed && result.isExceeded) {
          deps.telemetry?.rateLimited('register');
          throw new OAuthError('invalid_request', 'Too many registrations from this address; retry later.', { status: 429, retryAfter: result.ttlInSeconds });
        }
      }
      return reply.code(201).send(await deps.registration.register(request.body, request));
    },
  );
}
