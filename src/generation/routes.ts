import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiKeyOf } from '../accounts/api-keys/guard.js';
import { openAIErrorSchema } from '../http/openai-errors.js';
import { bearerOf, requireScope } from '../resources/bearer.js';
import type { Gateway } from './gateway.js';
import type { StoredResponses } from './stored-responses.js';
import { abortOnDisconnect, sendGatewayResult } from './reply.js';
import type { Principal, UsageService } from './usage.js';
import { API } from '../paths.js';

/** Generation requests are OpenAI's own shapes; the upstream judges them, Serika only needs an object. */
const generationBody = {
  type: 'object',
  properties: { model: { type: 'string' }, stream: { type: 'boolean' }, stream_options: { type: ['object', 'null'] } },
} as const;
const errors = { 400: openAIErrorSchema, 401: openAIErrorSchema, 403: openAIErrorSchema, 502: openAIErrorSchema, 503: openAIErrorSchema, 504: openAIErrorSchema };
/** A response id as the upstream makes them (resp_…); anything longer is no id Serika handed out. */
const responseParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } as const;
const responseErrors = { ...errors, 404: openAIErrorSchema };
const BODY_LIMIT = 10 * 1024 * 1024;

type Json = Record<string, unknown>;

/** The query string of a request as it came ('' when none). */
const queryOf = (request: FastifyRequest) => {
  const at = request.url.indexOf('?');
  return at === -1 ? '' : request.url.slice(at + 1);
};

/** The same routes, once per way of proving who the caller is. */
function generationRoutes(
  scope: FastifyInstance,
  { gateway, stored }: Generation,
  prefix: string,
  principalOf: (request: FastifyRequest) => Principal,
  tag: string,
  security: string,
  preHandler?: ReturnType<typeof requireScope>,
): void {
  const common = { tags: [tag], security: [{ [security]: [] }] };
  scope.post<{ Body: Json }>(
    `${prefix}${API.chatCompletions}`,
    { bodyLimit: BODY_LIMIT, preHandler, schema: { ...common, summary: 'Chat completions (OpenAI API), streamed or not', body: generationBody } },
    async (request, reply) => sendGatewayResult(reply, await gateway.chat(principalOf(request), request.body, abortOnDisconnect(request, reply))),
  );
  scope.post<{ Body: Json }>(
    `${prefix}${API.imageGenerations}`,
    { bodyLimit: BODY_LIMIT, preHandler, schema: { ...common, summary: 'Image generation (OpenAI API)', body: generationBody } },
    async (request, reply) => sendGatewayResult(reply, await gateway.images(principalOf(request), request.body, abortOnDisconnect(request, reply))),
  );
  // SPEC §14: the Responses API; a response only for the user and app that made it.
  scope.post<{ Body: Json }>(
    `${prefix}${API.responses}`,
    { bodyLimit: BODY_LIMIT, preHandler, schema: { ...common, summary: 'Responses (OpenAI API), streamed or not', body: generationBody } },
    async (request, reply) => sendGatewayResult(reply, await gateway.responses(principalOf(request), request.body, abortOnDisconnect(request, reply))),
  );
  scope.get<{ Params: { id: string } }>(
    `${prefix}${API.response}`,
    { preHandler, schema: { ...common, summary: 'A response this user and app made (404 for anyone else’s)', params: responseParams, response: responseErrors } },
    async (request, reply) => sendGatewayResult(reply, await stored.retrieve(principalOf(request), request.params.id, 'response', queryOf(request), abortOnDisconnect(request, reply))),
  );
  scope.get<{ Params: { id: string } }>(
    `${prefix}${API.responseInputItems}`,
    { preHandler, schema: { ...common, summary: 'The input items of a response this user and app made', params: responseParams, response: responseErrors } },
    async (request, reply) => sendGatewayResult(reply, await stored.retrieve(principalOf(request), request.params.id, 'input_items', queryOf(request), abortOnDisconnect(request, reply))),
  );
  scope.delete<{ Params: { id: string } }>(
    `${prefix}${API.response}`,
    { preHandler, schema: { ...common, summary: 'Deletes a response this user and app made (404 for anyone else’s)', params: responseParams, response: responseErrors } },
    async (request, reply) => sendGatewayResult(reply, await stored.remove(principalOf(request), request.params.id, abortOnDisconnect(request, reply))),
  );
  scope.post<{ Body: Json }>(
    `${prefix}${API.embeddings}`,
    { bodyLimit: BODY_LIMIT, preHandler, schema: { ...common, summary: 'Embeddings (OpenAI API), metered on prompt tokens', body: generationBody } },
    async (request, reply) => sendGatewayResult(reply, await gateway.embeddings(principalOf(request), request.body, abortOnDisconnect(request, reply))),
  );
  scope.get(`${prefix}${API.models}`, { preHandler, schema: { ...common, summary: "The upstream's models", response: errors } }, async (request, reply) =>
    sendGatewayResult(reply, await gateway.models(abortOnDisconnect(request, reply))),
  );
}

const usageSchema = {
  type: 'object',
  required: ['object', 'data'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: {
      type: 'array',
      items: {
        type: 'object',
        required: ['date', 'clientId', 'clientName', 'promptTokens', 'completionTokens', 'images', 'requests'],
        properties: {
          date: { type: 'string', examples: ['2026-11-28'] },
          clientId: { type: ['string', 'null'] },
          clientName: { type: ['string', 'null'] },
          promptTokens: { type: 'integer' },
          completionTokens: { type: 'integer' },
          images: { type: 'integer' },
          requests: { type: 'integer' },
        },
      },
    },
  },
} as const;

/** What the generation routes call: the gateway, and the responses the upstream keeps. */
interface Generation {
  gateway: Gateway;
  stored: StoredResponses;
}

/** API-key routes: /chat/completions, /images/generations, /responses, /embeddings, /models and /usage (SPEC §2, §5, §14). */
export async function apiKeyGenerationRoutes(scope: FastifyInstance, generation: Generation, usage: UsageService): Promise<void> {
  generationRoutes(scope, generation, '', (request) => {
    const key = apiKeyOf(request);
    return { userId: key.userId, clientId: null, apiKeyId: key.apiKeyId };
  }, 'generation', 'apiKey');
  scope.get(
    API.usage,
    { schema: { tags: ['generation'], security: [{ apiKey: [] }], summary: 'Usage per day and app, last 30 days', response: { 200: usageSchema, 401: openAIErrorSchema } } },
    async (request) => ({ object: 'list', data: await usage.lastThirtyDays(apiKeyOf(request).userId) }),
  );
}

/** OAuth routes under /oauth with the `generations` scope (SPEC §5, §14). */
export async function oauthGenerationRoutes(scope: FastifyInstance, generation: Generation): Promise<void> {
  generationRoutes(
    scope,
    generation,
    API.oauth,
    (request) => {
      const grant = bearerOf(request);
      return { userId: grant.userId, clientId: grant.clientId, apiKeyId: null, agents: grant.agents };
    },
    'resources',
    'accessToken',
    requireScope('generations'),
  );
}
