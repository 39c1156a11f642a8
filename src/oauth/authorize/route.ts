import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionsService } from '../../accounts/sessions.js';
import type { UsersService } from '../../accounts/users-service.js';
import type { ClientsService } from '../../clients/service.js';
import type { Config } from '../../config.js';
import type { GrantsService } from '../../consent/grants.js';
import { field } from '../../http/form-body.js';
import { sendErrorPage, pageHeaders } from '../../web/layout.js';
import { currentUser, protectFormPosts } from '../../web/session.js';
import { OAuthError } from '../errors.js';
import { OAuthParams } from '../params.js';
import type { OAuthStore } from '../store.js';
import { parseScopes } from '../tokens.js';
import { sendConsentPage } from './consent-page.js';
import type { AuthorizeContext } from './context.js';
import { redirectWith } from './respond.js';
import { validateAuthorizeRequest } from './steps.js';

export interface AuthorizeDeps {
  config: Config;
  clients: ClientsService;
  users: UsersService;
  sessions: SessionsService;
  grants: GrantsService;
  store: OAuthStore;
}

/** GET /oauth/authorize and the consent decision POST (RFC 6749 §4.1.1, §4.1.2). */
export async function authorizeRoutes(scope: FastifyInstance, deps: AuthorizeDeps): Promise<void> {
  const { config, clients, users, sessions, grants, store } = deps;
  const issuer = () => config.publicUrl;

  // UI-02, UI-04: page headers on every response of this scope, and never CORS.
  scope.addHook('onRequest', async (_request, reply) => {
    pageHeaders(reply);
  });
  protectFormPosts(scope, config.publicUrl);

  const fail = (reply: FastifyReply, ctx: AuthorizeContext, error: OAuthError) =>
    ctx.redirectUri === undefined
      ? sendErrorPage(reply, 400, error.code, error.message)
      : redirectWith(reply, ctx.redirectUri, { error: error.code, error_description: error.message, state: ctx.state }, issuer());

  scope.get('/oauth/authorize', { schema: { hide: true } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const ctx: AuthorizeContext = { params: OAuthParams.fromQuery(request.raw.url ?? '') };
    try {
      await validateAuthorizeRequest(ctx, { clients });
    } catch (error) {
      if (error instanceof OAuthError) return fail(reply, ctx, error);
      throw error;
    }
    const client = ctx.client!;
    const redirectUri = ctx.redirectUri!;
    const scopes = ctx.scopes!;

    const user = await currentUser(request, sessions);
    if (!user) {
      if (ctx.prompt === 'none') return fail(reply, ctx, new OAuthError('login_required', 'The user is not signed in.'));
      // Sign in first, then come back to this very request (SPEC §2).
      return reply.code(303).header('location', `/login?return_to=${encodeURIComponent(request.url)}`).send();
    }

    // RFC 8252 §8.6: public clients are always asked; prompt=consent always asks.
    const mayReuseGrant = !client.public && ctx.prompt !== 'consent';
    if (mayReuseGrant && (await grants.covers(user.userId, client.clientId, scopes))) {
      const code = await store.createCode({ clientId: client.clientId, userId: user.userId, scopes, redirectUri, codeChallenge: ctx.codeChallenge! });
      return redirectWith(reply, redirectUri, { code, state: ctx.state }, issuer());
    }
    if (ctx.prompt === 'none') return fail(reply, ctx, new OAuthError('consent_required', 'The user has not yet allowed this app.'));

    const requestId = await store.createPending({
      user_id: user.userId,
      client_id: client.clientId,
      redirect_uri: redirectUri,
      scopes: scopes.join(' '),
      state: ctx.state ?? null,
      code_challenge: ctx.codeChallenge!,
    });
    const owner = await users.findById(client.ownerId);
    return sendConsentPage(reply, { user, client, ownerName: owner?.username ?? 'unknown', scopes, redirectUri, requestId });
  });

  scope.post('/oauth/authorize/decision', { schema: { hide: true } }, async (request, reply) => {
    const user = await currentUser(request, sessions);
    if (!user) return sendErrorPage(reply, 401, 'login_required', 'Your session has ended. Go back to the app and start again.');
    const requestId = field(request.body, 'request_id');
    const decision = field(request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') return sendErrorPage(reply, 400, 'invalid_request', 'Choose Allow or Deny.');
    const pending = requestId ? await store.takePending(requestId, user.userId) : undefined;
    if (!pending) {
      return sendErrorPage(reply, 400, 'invalid_request', 'This authorization request has expired or was already answered. Go back to the app and start again.');
    }
    const state = pending.state ?? undefined;
    if (decision === 'deny') {
      return redirectWith(reply, pending.redirect_uri, { error: 'access_denied', error_description: 'The user denied the request.', state }, issuer());
    }
    const scopes = parseScopes(pending.scopes);
    // The client may have lost scopes (or vanished) while the page was open.
    const client = await clients.findRegistered(pending.client_id);
    if (!client || !scopes.every((s) => (client.scopes as string[]).includes(s))) {
      return redirectWith(reply, pending.redirect_uri, { error: 'invalid_scope', error_description: 'The app no longer has these scopes.', state }, issuer());
    }
    await grants.allow(user.userId, client.clientId, scopes);
    const code = await store.createCode({ clientId: client.clientId, userId: user.userId, scopes, redirectUri: pending.redirect_uri, codeChallenge: pending.code_challenge });
    return redirectWith(reply, pending.redirect_uri, { code, state }, issuer());
  });
}
