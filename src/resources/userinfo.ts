import type { FastifyInstance } from 'fastify';
import { openAIErrorSchema } from '../http/openai-errors.js';
import type { AccessGrant } from '../oauth/store/token-lookup.js';
import { bearerOf, requireScope } from './bearer.js';
import { API } from '../paths.js';
import { emailClaims, profileClaims } from '../oidc/standard-claims.js';

const userinfoSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', examples: ['user_6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e'], description: 'With profile.' },
    username: { type: 'string', examples: ['alice'], description: 'With profile.' },
    avatar: { type: ['string', 'null'], description: 'With profile: a URL, or null.' },
    sub: { type: 'string', description: 'With openid: the user id (= id, and the ID token sub).' },
    preferred_username: { type: 'string', description: 'With openid and profile.' },
    name: { type: 'string', description: 'With openid and profile.' },
    picture: { type: 'string', description: 'With openid and profile, when the user has an avatar (OIDC Core §5.3.2: no null claims).' },
    email: { type: 'string', description: 'With email, when the user has an address.' },
    email_verified: { type: 'boolean', description: 'With email and an address: false until its verification link is followed (SPEC §11).' },
  },
} as const;

/**
 * The seed's `{id, username, avatar}` with profile; OIDC Core §5.3.2 claims
 * beside them: `sub` with openid, the standard profile claims with openid and
 * profile, `email` and `email_verified` with email.
 */
function userinfoClaims(grant: AccessGrant): Record<string, unknown> {
  const scopes = grant.scopeList;
  const claims: Record<string, unknown> = {};
  const openid = scopes.includes('openid');
  if (openid) claims.sub = grant.userId;
  if (scopes.includes('profile')) {
    Object.assign(claims, { id: grant.userId, username: grant.username, avatar: grant.avatar });
    if (openid) Object.assign(claims, profileClaims(grant));
  }
  if (scopes.includes('email')) Object.assign(claims, emailClaims(grant));
  return claims;
}

/** GET and POST /oauth/userinfo (scope profile): who the token acts for (OIDC Core §5.3.1 asks for both methods). */
export async function userinfoRoute(scope: FastifyInstance): Promise<void> {
  scope.route({
    method: ['GET', 'POST'],
    url: API.userinfo,
    preHandler: requireScope('profile', 'openid'),
    schema: {
      tags: ['resources'],
      summary: 'The user the access token acts for (scope profile or openid)',
      security: [{ accessToken: [] }],
      response: { 200: userinfoSchema, 400: openAIErrorSchema, 401: openAIErrorSchema, 403: openAIErrorSchema },
    },
    handler: async (request, reply) => {
      const grant = bearerOf(request);
      return reply.header('cache-control', 'no-store').send(userinfoClaims(grant));
    },
  });
}
