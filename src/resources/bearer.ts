import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';
import { presentedCredentials } from '../http/authorization-header.js';
import type { OAuthStore } from '../oauth/store/store.js';
import type { AccessGrant } from '../oauth/store/token-lookup.js';
import type { Scope } from '../scopes.js';
import { API_BASE } from '../paths.js';
import { credentialKindOf } from '../security/secrets.js';
import { identify } from '../http/request-context.js';
import { audienceCovers, type ProtectedResource } from '../audiences.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer guard on the routes it protects. */
    bearer: AccessGrant | null;
  }
  interface FastifyContextConfig {
    /** Set by the bearer guard on every route it protects: for the challenge's resource_metadata. */
    protectedResource?: ProtectedResource;
    /** The scope requireScope() asks for, for the challenge's scope. */
    neededScope?: string;
  }
}

const REALM = 'realm="serika"';

/** A Bearer challenge written by a library (the MCP SDK's scope challenge) with our realm first, as ours have (SPEC §8). */
export function withRealm(value: string): string {
  if (!/^Bearer(\s|$)/i.test(value) || /^Bearer\s+realm=/i.test(value)) return value;
  const rest = value.slice('Bearer'.length).trim();
  return rest ? `Bearer ${REALM}, ${rest}` : `Bearer ${REALM}`;
}


/** The scope a route asks for, carried from requireScope() to the route's config (for the 401 challenge). */
const NEEDS = Symbol('needsScope');
type ScopeCheck = preHandlerAsyncHookHandler & { [NEEDS]?: string };

/**
 * RFC 6750 §3 with RFC 9728 §5.1: the challenge names the resource's
 * metadata and the scope the call needs (MCP clients start discovery from
 * it), with error attributes when there was a token to judge.
 */
export function bearerChallenge(request: FastifyRequest, reply: FastifyReply, error?: string, description?: string, scope?: string): void {
  const parts = [`Bearer ${REALM}`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, "'")}"`);
  const needed = scope ?? request.routeOptions.config?.neededScope;
  if (needed) parts.push(`scope="${needed}"`);
  const resource = request.routeOptions.config?.protectedResource;
  if (resource) parts.push(`resource_metadata="${resource.metadataUrl}"`);
  reply.header('www-authenticate', parts.join(', '));
}

function refuse(request: FastifyRequest, reply: FastifyReply, code: 'invalid_request' | 'invalid_token', message: string): AppError {
  bearerChallenge(request, reply, code, message);
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
export function bearerGuard(scope: FastifyInstance, store: OAuthStore, resource: ProtectedResource): void {
  if (!scope.hasRequestDecorator('bearer')) scope.decorateRequest('bearer', null);
  scope.addHook('onRoute', (route) => {
    const needs = [route.preHandler ?? []].flat().map((h) => (h as ScopeCheck)[NEEDS]).find(Boolean);
    route.config = { ...(route.config ?? {}), protectedResource: resource, ...(needs ? { neededScope: needs } : {}) };
  });
  // preValidation: after the body is parsed (RS-04 looks into form bodies), before any handler.
  scope.addHook('preValidation', async (request, reply) => {
    const query = request.query as Record<string, unknown> | undefined;
    // RFC 6750 §2.3 and RFC 9700 §4.3.2: never a token in the URL; §2.2's form body is not accepted either (RS-04).
    if ((query && 'access_token' in query) || hasFormToken(request)) {
      throw refuse(request, reply, 'invalid_request', 'Send the access token in the Authorization header only.');
    }
    const presented = presentedCredentials(request.headers.authorization);
    if (presented.kind === 'none' || presented.kind === 'other') {
      // RS-01: no credentials or another scheme: a bare challenge, no error attribute (§3.1).
      bearerChallenge(request, reply);
      throw new AppError('invalid_token', 'This endpoint needs an OAuth access token: Authorization: Bearer ACCESS_TOKEN.');
    }
    if (presented.kind === 'malformed') throw refuse(request, reply, 'invalid_request', 'The Authorization header must be "Bearer" and one token.'); // RS-05
    const grant = await store.tokens.findLiveAccess(presented.token);
    if (!grant) {
      // SPEC §14: an API key sent where an access token belongs is told where it does work.
      const message =
        credentialKindOf(presented.token) === 'api_key'
          ? `This is a Serika API key: it belongs under ${resource.publicUrl}${API_BASE} (without /oauth); ${resource.uri} takes OAuth access tokens.`
          : 'The access token is invalid, expired or revoked.';
      throw refuse(request, reply, 'invalid_token', message); // RS-02
    }
    // RFC 8707, SPEC §8: a token is good only at the resources it was issued for.
    if (!audienceCovers(grant.audience, resource.path)) {
      throw refuse(request, reply, 'invalid_token', `The access token was issued for another resource; ask for one with resource=${resource.uri}.`);
    }
    request.bearer = grant;
    identify(request.log, { userId: grant.userId, clientId: grant.clientId });
  });
}

/** Per-route scope check (RS-03): 403 with the scope the route needs (any one of several, when it takes several). */
export function requireScope(needed: Scope, ...orElse: Scope[]): preHandlerAsyncHookHandler {
  const accepted = [needed, ...orElse];
  const check: ScopeCheck = async function checkScope(request, reply) {
    const grant = request.bearer;
    if (!grant) throw new AppError('invalid_token', 'This endpoint needs an OAuth access token.');
    const held = grant.scopeList;
    if (!accepted.some((s) => held.includes(s))) {
      bearerChallenge(request, reply, 'insufficient_scope', `This endpoint needs the ${accepted.join(' or ')} scope.`, needed);
      throw new AppError('insufficient_scope', `The access token lacks the "${needed}" scope this endpoint needs.`);
    }
  };
  check[NEEDS] = needed;
  return check;
}

export function bearerOf(request: FastifyRequest): AccessGrant {
  if (!request.bearer) throw new AppError('invalid_token', 'This endpoint needs an OAuth access token.');
  return request.bearer;
}
