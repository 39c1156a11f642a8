import type { FastifyInstance } from 'fastify';
import { apiKeyOf } from '../accounts/api-keys/guard.js';
import { openAIErrorSchema } from '../http/openai-errors.js';
import type { ClientsService } from './service.js';
import { API } from '../paths.js';
import { listEnvelope, pageQuerySchema, pageRequest, type PageQuery } from '../storage/paging.js';
import {
  clientIdParams,
  clientListResponse,
  clientObject,
  createClientBody,
  createdClientObject,
  resetSecretResponse,
  rotateWebhookSecretResponse,
  updateClientBody,
  updatedClientObject,
  type CreateClientInput,
  type UpdateClientInput,
} from './schemas.js';

const errors = { 400: openAIErrorSchema, 401: openAIErrorSchema, 404: openAIErrorSchema } as const;
const common = { tags: ['clients'], security: [{ apiKey: [] }] };

interface ByIdRoute {
  Params: { clientId: string };
}

/**
 * The client-management API (SPEC §3), relative to `/oauth/clients` inside
 * an API-key-guarded scope. Every lookup is scoped to the caller, so another
 * user's client is a 404 on every verb (CM-02).
 */
export async function clientRoutes(scope: FastifyInstance, clients: ClientsService): Promise<void> {
  scope.post<{ Body: CreateClientInput }>(
    API.clients,
    {
      schema: {
        ...common,
        summary: 'Register an OAuth client',
        description:
          'Returns the client with its secret, which is shown only here and on reset (null for a public client). A logoUri is fetched once (PNG, JPEG or WebP, at most 100 KB) and served from Serika at logoUrl; when it cannot be had, the client is still created, with logoError saying why.',
        body: createClientBody,
        response: { 201: createdClientObject, ...errors },
      },
    },
    async (request, reply) => {
      const created = await clients.create(apiKeyOf(request).userId, request.body, request);
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  scope.get<{ Querystring: PageQuery }>(
    API.clients,
    {
      schema: {
        ...common,
        summary: "List the caller's OAuth clients, oldest first, a page at a time",
        querystring: pageQuerySchema,
        response: { 200: clientListResponse, 400: openAIErrorSchema, 401: openAIErrorSchema },
      },
    },
    async (request) => {
      const page = await clients.page(apiKeyOf(request).userId, pageRequest(request.query));
      return listEnvelope(page.data, page.hasMore, (c) => c.clientId);
    },
  );

  scope.get<ByIdRoute>(
    API.client,
    { schema: { ...common, summary: 'Get an OAuth client', params: clientIdParams, response: { 200: clientObject, ...errors } } },
    async (request) => clients.get(apiKeyOf(request).userId, request.params.clientId),
  );

  scope.patch<ByIdRoute & { Body: UpdateClientInput }>(
    API.client,
    {
      schema: {
        ...common,
        summary: 'Update an OAuth client',
        description:
          'Changes any field given (name, redirectUris, scopes, the branding fields, the events fields, …). Removing a scope revokes every grant and token of the client that holds it. A changed logoUri is fetched once; a logo that cannot be had leaves logoUrl null and logoError set, and the update still succeeds. The answer that first sets webhookUrl carries webhookSecret, shown once.',
        params: clientIdParams,
        body: updateClientBody,
        response: { 200: updatedClientObject, ...errors },
      },
    },
    async (request, reply) => {
      const updated = await clients.update(apiKeyOf(request).userId, request.params.clientId, request.body, request);
      if ('webhookSecret' in updated) reply.header('cache-control', 'no-store');
      return updated;
    },
  );

  scope.delete<ByIdRoute>(
    API.client,
    {
      schema: {
        ...common,
        summary: 'Delete an OAuth client',
        description: 'Every grant, code and token of the client dies with it.',
        params: clientIdParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errors },
      },
    },
    async (request, reply) => {
      await clients.delete(apiKeyOf(request).userId, request.params.clientId, request);
      return reply.code(204).send();
    },
  );

  scope.post<ByIdRoute>(
    API.clientResetSecret,
    {
      schema: {
        ...common,
        summary: "Reset a confidential client's secret",
        description: 'The old secret stops working at once. A public client has no secret: 400.',
        params: clientIdParams,
        response: { 200: resetSecretResponse, ...errors },
      },
    },
    async (request, reply) => {
      const result = await clients.resetSecret(apiKeyOf(request).userId, request.params.clientId, request);
      return reply.header('cache-control', 'no-store').send(result);
    },
  );

  scope.post<ByIdRoute>(
    API.clientRotateWebhookSecret,
    {
      schema: {
        ...common,
        summary: "Rotate a client's webhook signing secret",
        description: 'Returns the new whsec_… secret, shown only here; events are signed with it from now on. A client without webhookUrl: 400.',
        params: clientIdParams,
        response: { 200: rotateWebhookSecretResponse, ...errors },
      },
    },
    async (request, reply) => {
      const result = await clients.rotateWebhookSecret(apiKeyOf(request).userId, request.params.clientId, request);
      return reply.header('cache-control', 'no-store').send(result);
    },
  );
}
