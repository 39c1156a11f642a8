import type { FastifyInstance } from 'fastify';
import { openAIErrorSchema } from '../http/openai-errors.js';
import { bearerOf, requireScope } from './bearer.js';
import { API } from '../paths.js';

const userinfoSchema = {
  type: 'object',
  required: ['id', 'username', 'avatar'],
  properties: {
    id: { type: 'string', examples: ['user_6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e'] },
    username: { type: 'string', examples: ['alice'] },
    avatar: { type: ['string', 'null'], description: 'A URL, or null.' },
  },
} as const;

/** GET and POST /oauth/userinfo (scope profile): who the token acts for (OIDC Core §5.3.1 asks for both methods). */
export async function userinfoRoute(scope: FastifyInstance): Promise<void> {
  scope.route({
    method: ['GET', 'POST'],
    url: API.userinfo,
    preHandler: requireScope('profile'),
    schema: {
      tags: ['resources'],
      summary: 'The user the access token acts for (scope profile)',
      security: [{ accessToken: [] }],
      response: { 200: userinfoSchema, 400: openAIErrorSchema, 401: openAIErrorSchema, 403: openAIErrorSchema },
    },
    handler: async (request, reply) => {
      const grant = bearerOf(request);
      return reply.header('cache-control', 'no-store').send({ id: grant.userId, username: grant.username, avatar: grant.avatar });
    },
  });
}
