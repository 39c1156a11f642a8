import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asciiUri } from '../clients/redirect-uris.js';
import { redirectsErrors } from '../clients/trust.js';
import type { ClientsService } from '../clients/service.js';
import { field } from '../http/form-body.js';
import { OAuthError } from '../oauth/protocol/errors.js';
import { OAuthParams } from '../oauth/protocol/params.js';
import type { IdTokens } from '../oidc/id-token.js';
import { DASHBOARD, PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import { sendOAuthErrorPage } from './page-errors.js';
import type { PageSessions } from './session.js';
import { confirmSignOutView, signedOutView } from './views/end-session.js';

export interface EndSessionDeps {
  pageSessions: PageSessions;
  clients: ClientsService;
  idTokens: IdTokens;
}

/**
 * RP-Initiated Logout 1.0: GET or POST /oauth/end_session. The user confirms
 * "Sign out of Serika?"; then the session ends and the user goes back to the
 * client's registered post_logout_redirect_uri with `state` when a valid
 * id_token_hint names that client, or sees "You are signed out" with a link
 * to it (SPEC §7). A URI that is not registered exactly is never followed.
 */
export async function endSessionPages(scope: FastifyInstance, deps: EndSessionDeps): Promise<void> {
  const { pageSessions, clients, idTokens } = deps;
  const refuse = (reply: FastifyReply, description: string, sent?: string) => sendOAuthErrorPage(reply, new OAuthError('invalid_request', description), sent);

  const handle = async (request: FastifyRequest, reply: FastifyReply, params: OAuthParams, confirm: string | undefined) => {
    const repeated = params.repeated();
    if (repeated.length > 0) return refuse(reply, `Parameters may not repeat: ${repeated.join(', ').slice(0, 100)}.`);
    const hintToken = params.get('id_token_hint');
    const hint = hintToken === undefined ? null : await idTokens.logoutHint(hintToken);
    if (hintToken !== undefined && hint === null) return refuse(reply, 'id_token_hint is not an ID token Serika issued.');
    const given = params.get('client_id');
    if (hint && given !== undefined && hint.aud !== given) return refuse(reply, 'client_id is not the client the id_token_hint was issued to.');
    const clientId = given ?? hint?.aud;
    const client = clientId === undefined ? undefined : await clients.findRegistered(clientId);
    if (clientId !== undefined && !client) return refuse(reply, 'No client has this client_id.');
    const uri = params.get('post_logout_redirect_uri');
    if (uri !== undefined) {
      if (!client) return refuse(reply, 'post_logout_redirect_uri needs client_id or id_token_hint, to know whose it is.');
      // Exact match only: never an open redirect.
      if (!client.postLogoutRedirectUris.includes(asciiUri(uri))) return refuse(reply, 'post_logout_redirect_uri is not registered for this client.', uri.slice(0, 2048));
    }
    const state = params.get('state');
    const target = uri === undefined ? undefined : asciiUri(uri);
    const returnTo = target === undefined || state === undefined ? target : `${target}${target.includes('?') ? '&' : '?'}state=${encodeURIComponent(state)}`;
    // RP-Initiated Logout 1.0 §3: without an id_token_hint for this client the OP must not redirect
    // after logout unless it can otherwise confirm the target, and anyone may register a URI
    // (SPEC §8); so the user gets a link instead.
    // An expired hint still counts (§2, and node-oidc-provider's IdToken.validate ignores exp):
    // its signature, issuer and audience are what say the request is the app's. But for a client
    // nobody vouches for (RFC 9700 §4.11.2, clients/trust.ts) any ID token its registrant ever got
    // by signing in to it is such a hint, so there it must also name the user being signed out.
    const followable = (signedOut: string | null) =>
      hint !== null && client !== undefined && hint.aud === client.clientId && (redirectsErrors(client) || hint.sub === signedOut);
    const finish = (signedOut: string | null) => {
      if (returnTo !== undefined && followable(signedOut)) return reply.code(303).header('location', returnTo).send();
      return sendPage(reply, 200, signedOutView(returnTo));
    };

    const user = await pageSessions.user(request);
    if (!user) return finish(null);
    if (confirm === 'yes') {
      // Audited as "session ended", naming the app that asked (SessionsService.signOut).
      await pageSessions.signOut(request, reply, client?.clientId ?? null);
      return finish(user.userId);
    }
    if (confirm === 'no') return reply.code(303).header('location', DASHBOARD.overview).send();
    const carry: Record<string, string> = {};
    if (hintToken !== undefined) carry.id_token_hint = hintToken;
    if (clientId !== undefined) carry.client_id = clientId;
    if (uri !== undefined) carry.post_logout_redirect_uri = uri;
    if (state !== undefined) carry.state = state;
    return sendPage(reply, 200, confirmSignOutView({ user, csrf: pageSessions.csrf(reply), clientName: client?.name ?? null, carry }));
  };

  scope.get(PATHS.endSession, { schema: { hide: true } }, async (request, reply) => handle(request, reply, OAuthParams.fromQuery(request.raw.url ?? ''), undefined));
  scope.post(PATHS.endSession, { schema: { hide: true }, config: { crossSiteForm: true } }, async (request, reply) => {
    const params = OAuthParams.fromBody(request.body);
    // Only our own confirmation form (it carries a CSRF token, checked before this) may confirm.
    const confirm = field(request.body, '_csrf') === undefined ? undefined : field(request.body, 'confirm');
    return handle(request, reply, params, confirm);
  });
}
