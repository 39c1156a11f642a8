import type { FastifyInstance } from 'fastify';
import { apiKeyOf } from '../accounts/api-keys/guard.js';
import type { UserAdmin } from '../accounts/user-admin.js';
import type { UserListItem } from '../accounts/user-search.js';
import { searchClients } from '../clients/admin-list.js';
import type { ClientTrust } from '../clients/client-trust.js';
import { clientObject } from '../clients/schemas.js';
import { AppError, notFound } from '../errors.js';
import { openAIErrorSchema } from '../http/openai-errors.js';
import { ADMIN_API } from '../paths.js';
import type { Storage } from '../storage/database.js';
import { listEnvelope, pageQuerySchema, pageRequest, pageResponseProperties, type PageQuery } from '../storage/paging.js';

const common = { tags: ['admin'], security: [{ apiKey: [] }] };
const errors = { 400: openAIErrorSchema, 401: openAIErrorSchema, 403: openAIErrorSchema } as const;

const userObject = {
  type: 'object',
  required: ['id', 'username', 'email', 'role', 'suspended', 'createdAt'],
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    email: { type: ['string', 'null'] },
    role: { type: 'string', enum: ['user', 'admin'] },
    suspended: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

const adminClientObject = {
  type: 'object',
  // The client object already says verified and suspended (SPEC §12).
  required: [...clientObject.required, 'ownerId', 'users'],
  properties: {
    ...clientObject.properties,
    ownerId: { type: ['string', 'null'], description: 'The user who registered it; null for a self-registered app.' },
    users: { type: 'integer', description: 'How many users allowed it.' },
  },
} as const;

const list = (item: object) => ({
  type: 'object',
  required: ['object', 'data', 'has_more', 'first_id', 'last_id'],
  properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: item }, ...pageResponseProperties },
});

const searchQuery = (description: string) => ({
  ...pageQuerySchema,
  properties: { ...pageQuerySchema.properties, q: { type: 'string', maxLength: 320, description } },
});

const userParams = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } as const;
const clientParams = { type: 'object', required: ['clientId'], properties: { clientId: { type: 'string', maxLength: 2048 } } } as const;

const toJson = (u: UserListItem) => ({ id: u.id, username: u.username, email: u.email, role: u.role, suspended: u.suspended, createdAt: new Date(u.createdAt).toISOString() });

/**
 * The admin API (SPEC §12), for automation with an admin's API key: registered in a scope whose API-key guard runs
 * first (a suspended admin's key is no key: 401), then this role check (another user's key: 403 permission_denied).
 */
export async function adminApiRoutes(scope: FastifyInstance, deps: { userAdmin: UserAdmin; clientTrust: ClientTrust; storage: Storage }): Promise<void> {
  const { userAdmin, clientTrust, storage } = deps;
  scope.addHook('onRequest', async (request) => {
    if (apiKeyOf(request).role !== 'admin') throw new AppError('permission_denied', 'This API key is not an admin\'s: the admin API needs one.');
  });

  scope.get<{ Querystring: PageQuery & { q?: string } }>(
    ADMIN_API.users,
    {
      schema: {
        ...common,
        summary: 'List or search users, a page at a time',
        description: 'By username; with q, the users whose username starts with it (case-insensitively), or whose email address does when q holds an @.',
        querystring: searchQuery('A prefix of the username, or of the email address when it holds an @.'),
        response: { 200: list(userObject), ...errors },
      },
    },
    async (request) => {
      const page = await userAdmin.search(request.query.q, pageRequest(request.query));
      if (!page) throw new AppError('invalid_value', '`after` is not a user id.', 'after');
      return listEnvelope(page.rows.map(toJson), page.hasMore, (u) => u.id);
    },
  );

  const userAction = (path: string, summary: string, description: string, run: (id: string, actorId: string, request: Parameters<UserAdmin['suspend']>[2]) => Promise<unknown>) =>
    scope.post<{ Params: { id: string } }>(
      path,
      { schema: { ...common, summary, description, params: userParams, response: { 200: userObject, ...errors, 404: openAIErrorSchema } } },
      async (request) => {
        const { id } = request.params;
        await run(id, apiKeyOf(request).userId, request);
        const user = await userAdmin.get(id);
        return toJson({ ...user, suspended: user.suspendedAt !== null });
      },
    );
  userAction(ADMIN_API.userSuspend, 'Suspend a user', 'They cannot sign in; every session and token of theirs ends at once on every instance. Tokens other users granted to their apps keep working. Returns the user.', (id, actor, request) =>
    userAdmin.suspend(id, actor, request),
  );
  userAction(ADMIN_API.userUnsuspend, 'Unsuspend a user', 'They may sign in again. Returns the user.', (id, actor, request) => userAdmin.unsuspend(id, actor, request));

  scope.get<{ Querystring: PageQuery & { q?: string } }>(
    ADMIN_API.clients,
    {
      schema: {
        ...common,
        summary: 'List or search OAuth clients, a page at a time',
        description: "By name; with q, the clients whose name starts with it (case-insensitively), or the client whose client_id q is. Each with its owner, its users, and the operator's verified and suspended states.",
        querystring: searchQuery('A prefix of the name, or a client_id.'),
        response: { 200: list(adminClientObject), ...errors },
      },
    },
    async (request) => {
      const page = await searchClients(storage.db, storage.dialect, request.query.q, pageRequest(request.query));
      if (!page) throw new AppError('invalid_value', '`after` is not a client_id.', 'after');
      return listEnvelope(
        page.rows.map(({ ownerUsername: _name, ...client }) => client),
        page.hasMore,
        (c) => c.clientId,
      );
    },
  );

  /** The client as the list shows it (its owner, users and trust), or 404. */
  const adminClient = async (clientId: string) => {
    const found = (await searchClients(storage.db, storage.dialect, clientId, { limit: 1 }))?.rows[0];
    if (!found || found.clientId !== clientId) throw notFound('client');
    const { ownerUsername: _name, ...client } = found;
    return client;
  };

  const clientAction = (path: string, decision: 'verify' | 'unverify' | 'suspend' | 'unsuspend', summary: string, description: string) =>
    scope.post<{ Params: { clientId: string } }>(
      path,
      { schema: { ...common, summary, description, params: clientParams, response: { 200: adminClientObject, ...errors, 404: openAIErrorSchema } } },
      async (request) => {
        const { clientId } = request.params;
        // The admin is the audit event's actor; an unknown client is ClientTrust's 404.
        await clientTrust[decision](clientId, apiKeyOf(request).userId, request);
        return adminClient(clientId);
      },
    );
  clientAction(ADMIN_API.clientVerify, 'verify', 'Verify a client', 'Its consent and device pages then say "Verified by" the operator. Returns the client.');
  clientAction(ADMIN_API.clientUnverify, 'unverify', 'Unverify a client', 'Its consent and device pages say again that the operator has not verified it. Returns the client.');
  clientAction(
    ADMIN_API.clientSuspend,
    'suspend',
    'Suspend a client',
    'Every token and code it holds ends at once on every instance; authorization and the token endpoint refuse it. Returns the client.',
  );
  clientAction(ADMIN_API.clientUnsuspend, 'unsuspend', 'Unsuspend a client', 'It may ask for new authorizations; tokens ended by the suspension stay ended. Returns the client.');
}
