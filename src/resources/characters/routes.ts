import type { FastifyInstance } from 'fastify';
import { apiKeyOf } from '../../accounts/api-keys/guard.js';
import { openAIErrorSchema } from '../../http/openai-errors.js';
import { bearerOf, requireScope } from '../bearer.js';
import type { CharactersService, CharacterViewer } from './service.js';
import { characterIdParams, characterList, characterObject, createCharacterBody, updateCharacterBody, type CharacterInput } from './schemas.js';
import { API } from '../../paths.js';
import { listEnvelope, pageQuerySchema, pageRequest, type PageQuery, type PageRequest } from '../../storage/paging.js';

const errors = { 400: openAIErrorSchema, 401: openAIErrorSchema, 403: openAIErrorSchema, 404: openAIErrorSchema } as const;

interface ById {
  Params: { id: string };
}

async function page(characters: CharactersService, viewer: CharacterViewer, request: PageRequest) {
  const found = await characters.page(viewer, request);
  return listEnvelope(found.data, found.hasMore, (c) => c.id);
}

/** First-party CRUD with an API key (SPEC §2), inside the API-key-guarded scope. */
export async function characterRoutes(scope: FastifyInstance, characters: CharactersService): Promise<void> {
  const common = { tags: ['characters'], security: [{ apiKey: [] }] };
  scope.post<{ Body: CharacterInput }>(
    API.characters,
    { schema: { ...common, summary: 'Create a character', body: createCharacterBody, response: { 201: characterObject, ...errors } } },
    async (request, reply) => reply.code(201).send(await characters.create(apiKeyOf(request).userId, request.body)),
  );
  scope.get<{ Querystring: PageQuery }>(
    API.characters,
    { schema: { ...common, summary: 'List your characters, oldest first, a page at a time', querystring: pageQuerySchema, response: { 200: characterList, ...errors } } },
    async (request) => page(characters, { userId: apiKeyOf(request).userId }, pageRequest(request.query)),
  );
  scope.get<ById>(
    API.character,
    { schema: { ...common, summary: 'Get a character', params: characterIdParams, response: { 200: characterObject, ...errors } } },
    async (request) => characters.get({ userId: apiKeyOf(request).userId }, request.params.id),
  );
  scope.patch<ById & { Body: CharacterInput }>(
    API.character,
    {
      schema: { ...common, summary: 'Update a character', params: characterIdParams, body: updateCharacterBody, response: { 200: characterObject, ...errors } },
    },
    async (request) => characters.update({ userId: apiKeyOf(request).userId }, request.params.id, request.body),
  );
  scope.delete<ById>(
    API.character,
    { schema: { ...common, summary: 'Delete a character', params: characterIdParams, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await characters.delete({ userId: apiKeyOf(request).userId }, request.params.id);
      return reply.code(204).send();
    },
  );
}

/** What an app with the `characters` scope reads (SPEC §5), inside the bearer-guarded scope: only the characters its grant allows (SPEC §15). */
export async function oauthCharacterRoutes(scope: FastifyInstance, characters: CharactersService): Promise<void> {
  const common = { tags: ['resources'], security: [{ accessToken: [] }] };
  const preHandler = requireScope('characters');
  scope.get<{ Querystring: PageQuery }>(
    API.oauthCharacters,
    { preHandler, schema: { ...common, summary: "The user's characters (scope characters), a page at a time", querystring: pageQuerySchema, response: { 200: characterList, ...errors } } },
    async (request) => page(characters, bearerOf(request), pageRequest(request.query)),
  );
  scope.get<ById>(
    API.oauthCharacter,
    {
      preHandler,
      schema: { ...common, summary: "One of the user's characters (scope characters)", params: characterIdParams, response: { 200: characterObject, ...errors } },
    },
    async (request) => characters.get(bearerOf(request), request.params.id),
  );
}
