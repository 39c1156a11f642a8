import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../accounts/sessions.js';
import { field } from '../http/form-body.js';
import { FRESH_LOGIN_MARKER, type AuthorizationService } from '../oauth/authorize/service.js';
import type { AuthorizeOutcome } from '../oauth/authorize/outcome.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import { sendOAuthErrorPage, sendErrorPage } from './page-errors.js';
import type { PageSessions } from './session.js';
import type { SecondStep } from './second-step-pages.js';
import { consentPage } from './views/consent.js';
import { readSpendingLimit } from './views/spending-limit.js';
import { readCharacterChoice } from './views/character-choice.js';
import type { CharactersService } from '../resources/characters/service.js';

/** The authorize URL with its fresh-login marker set to `after` (any earlier marker replaced, every other byte kept). */
function withFreshLoginMarker(url: string, after: number): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const kept = query.split('&').filter((pair) => pair !== '' && !pair.startsWith(`${FRESH_LOGIN_MARKER}=`));
  return `${path}?${[...kept, `${FRESH_LOGIN_MARKER}=${after}`].join('&')}`;
}

export interface AuthorizePagesDeps {
  authorization: AuthorizationService;
  pageSessions: PageSessions;
  /** acr_values asked for a second factor the session has not used (SPEC §11). */
  secondStep: SecondStep;
  /** OPERATOR_NAME, who verifies apps (SPEC §12). */
  operatorName: string;
  /** The user's characters, listed on the consent page (SPEC §15). */
  characters: CharactersService;
}

/**
 * The page side of the authorization endpoint: it asks oauth/ what must
 * happen and shows it (a redirect, an error page, sign-in, consent), then
 * posts the user's decision back.
 */
export async function authorizePages(scope: FastifyInstance, deps: AuthorizePagesDeps): Promise<void> {
  const { authorization, pageSessions, secondStep } = deps;
  /** The posted choice, limited to the user's own characters (read only when the form has the fieldset). */
  const readCharacters = async (body: unknown, userId: string) =>
    field(body, 'characters') === undefined ? undefined : readCharacterChoice(body, (await deps.characters.list({ userId })).map((c) => c.id));

  const show = async (request: FastifyRequest, reply: FastifyReply, user: SessionUser | null, outcome: AuthorizeOutcome) => {
    switch (outcome.kind) {
      case 'redirect':
        // RFC 9700 §4.12 (AZ-20): 303, so a POST is never replayed.
        return reply.code(303).header('location', outcome.location).header('cache-control', 'no-store').send();
      case 'error':
        return sendOAuthErrorPage(reply, outcome.error, outcome.sentRedirectUri, outcome.returnTo);
      case 'login': {
        // Sign in first, then come back to this very request (SPEC §2); a fresh sign-in
        // (prompt=login, max_age) comes back marked with when it was asked for.
        const back = outcome.fresh ? withFreshLoginMarker(request.url, outcome.freshLoginAfter) : request.url;
        const query = new URLSearchParams({ return_to: back });
        if (outcome.fresh) query.set('prompt', 'login');
        if (outcome.loginHint) query.set('login_hint', outcome.loginHint);
        return reply.code(303).header('location', `${PATHS.login}?${query.toString()}`).send();
      }
      case 'second_factor':
        return secondStep.stepUp(request, reply, { userId: outcome.userId, amr: user?.amr ?? [], returnTo: request.url });
      case 'consent': {
        const userCharacters = outcome.scopes.includes('characters') ? await deps.characters.list({ userId: user!.userId }) : [];
        return sendPage(reply, 200, consentPage({ ...outcome, user: user!, csrf: pageSessions.csrf(reply), operatorName: deps.operatorName, userCharacters }));
      }
    }
  };

  scope.get(PATHS.authorize, { schema: { hide: true } }, async (request, reply) => {
    const user = await pageSessions.user(request);
    const session = user && { userId: user.userId, authTime: user.authTime, amr: user.amr, sid: user.sid };
    return show(request, reply, user, await authorization.start(request.raw.url ?? '', session, { ip: request.ip, log: request.log }));
  });

  scope.post(PATHS.authorizeDecision, { schema: { hide: true } }, async (request, reply) => {
    const user = await pageSessions.user(request);
    if (!user) return sendErrorPage(reply, 401, 'login_required', 'Your session has ended. Go back to the app and start again.');
    const decision = field(request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') return sendErrorPage(reply, 400, 'invalid_request', 'Choose Allow or Deny.');
    const chosen = decision === 'allow' ? { budget: readSpendingLimit(request.body), characters: await readCharacters(request.body, user.userId) } : {};
    return show(request, reply, user, await authorization.decide(field(request.body, 'request_id'), user.userId, decision, chosen, request));
  });
}
