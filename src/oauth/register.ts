import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientMetadataError } from '../clients/client-metadata.js';
import type { ClientRegistration } from '../clients/registration.js';
import { statusOf } from '../errors.js';
import { InvalidBody } from '../http/json-body.js';
import type { Telemetry } from '../http/telemetry.js';
import { API } from '../paths.js';
import { OAuthError } from './protocol/errors.js';
import { sendOAuthJsonError } from './protocol/json-errors.js';

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
 * rate limits and outages keep their own answers.
 */
function sendRegistrationError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ClientMetadataError) return sendOAuthJsonError(new OAuthError(error.code, error.message), request, reply);
  const status = statusOf(error);
  if (!(error instanceof OAuthError) && status >= 400 && status < 500 && status !== 429 && status !== 413) {
    const code = (error as FastifyError).code;
    const description =
      code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'Send the client metadata as application/json (RFC 7591 §3.1).' : error instanceof InvalidBody ? error.message : 'The request body is not valid JSON.';
    return sendOAuthJsonError(new OAuthError('invalid_client_metadata', description), request, reply);
  }
  return sendOAuthJsonError(error, request, reply);
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
          'JSON client metadata: redirect_uris (required), client_name, token_endpoint_auth_method (none, client_secret_basic, client_secret_post), grant_types, response_types, scope, client_uri, logo_uri, … Answers 201 with client_id (and client_secret for confidential clients). Registered clients have no owner, are shown as unverified, always ask consent, and are deleted after 30 days without a grant.',
      },
    },
    async (request, reply) => {
      if (!deps.open) throw new OAuthError('access_denied', 'Dynamic client registration is closed on this server (REGISTRATION=closed); ask its operator for a client.');
      if (limit) {
        const result = await limit(request);
        if (!result.isAllowed && result.isExceeded) {
          deps.telemetry?.rateLimited('register');
          reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)));
          throw new OAuthError('invalid_request', 'Too many registrations from this address; retry later.', { status: 429 });
        }
      }
      return reply.code(201).send(await deps.registration.register(request.body, request));
    },
  );
}
