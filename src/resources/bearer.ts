import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';
import { presentedCredentials } from '../http/authorization-header.js';
import type { AccessGrant, OAuthStore } from '../oauth/store.js';
import { parseScopes } from '../scopes.js';
import type { Scope } from '../scopes.js';
import { identify } from '../http/request-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer guard on the routes it protects. */
    bearer: AccessGrant | null;
  }
}

const REALM = 'realm="serika"';

/** RFC 6750 §3: the challenge, with error attributes when there was a token to judge. */
function challenge(reply: FastifyReply, error?: string, description?: string, scope?: string): void {
  const parts = [`Bearer ${REALM}`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, "'")}"`);
  if (scope) parts.push(`scope="${scope}"`);
  reply.header('www-authenticate', parts.join(', '));
}

function refuse(reply: FastifyReply, code: 'invalid_request' | 'invalid_token', message: string): AppError {
  challenge(reply, code, message);
  return new AppError(code, message);
}

function hasFormToken(request: FastifyRequest): boolean {
  const type = request.headers['content-type'] ?? '';
  const body = request.body as Record<string, unknown> | undefined;
  return /^application\/x-www-form-urlencoded/i.test(type) && typeof body === 'object' && body !== null && 'access_token' in body;
}

/**
 * The bearer guard (RFC 6750): registered on a scope, it authenticates every
 * route of that scope by `Authorization: Bearer <access token>` only
 * (RS-01…RS-05); each route declares the scope it needs with requireScope().
 */
export function bearerGuard(scope: FastifyInstance, store: OAuthStore): void {
  if (!scope.hasRequestDecorator('bearer')) scope.decorateRequest('bearer', null);
  // preValidation: after the body is parsed (RS-04 looks into form bodies), before any handler.
  scope.addHook('preValidation', async (request, reply) => {
    const query = request.query as Record<string, unknown> | undefined;
    // RFC 6750 §2.3 and RFC 9700 §4.3.2: never a token in the URL; §2.2's form body is not accepted either (RS-04).
    if ((query && 'access_token' in query) || hasFormToken(request)) {
      throw refuse(reply, 'invalid_request', 'Send the access token in the Authorization header only.');
    }
    const presented = presentedCredentials(request.headers.authorization);
    if (presented.kind === 'none' || presented.kind === 'other') {
      // RS-01: no credentials or another scheme: a bare challenge, no error attribute (§3.1).
      challenge(reply);
      throw new AppError('invalid_token', 'This endpoint needs an OAuth access token: Authorization: Bearer ACCESS_TOKEN.');
    }
    if (presented.kind === 'malformed') throw refuse(reply, 'invalid_request', 'The Authorization header must be "Bearer" and one token.'); // RS-05
    const grant = await store.findLiveAccessToken(presented.token);
    if (!grant) throw refuse(reply, 'invalid_token', 'The access token is invalid, expired or revoked.'); // RS-02
    request.bearer = grant;
    identify(request.log, { userId: grant.userId, clientId: grant.clientId });
  });
}

/** Per-route scope check (RS-03): 403 with the scope the route needs (any one of several, when it takes several). */
export function requireScope(needed: Scope, ...orElse: Scope[]): preHandlerAsyncHookHandler {
  const accepted = [needed, ...orElse];
  return async function checkScope(request, reply) {
    const grant = request.bearer;
    if (!grant) throw new AppError('invalid_token', 'This endpoint needs an OAuth access token.');
    const held = parseScopes(grant.scopes);
    if (!accepted.some((s) => held.includes(s))) {
      challenge(reply, 'insufficient_scope', `This endpoint needs the ${accepted.join(' or ')} scope.`, needed);
      throw new AppError('insufficient_scope', `The access token lacks the "${needed}" scope this endpoint needs.`);
    }
  };
}

export function bearerOf(request: FastifyRequest): AccessGrant {
  if (!request.bearer) throw new AppError('invalid_token', 'This endpoint needs an OAuth access token.');
  return request.bearer;
}
