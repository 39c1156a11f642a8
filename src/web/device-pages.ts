import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../accounts/sessions.js';
import { field } from '../http/form-body.js';
import type { DeviceDecisions, Refusal } from '../oauth/device/decision.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import { sendErrorPage } from './page-errors.js';
import type { PageSessions } from './session.js';
import { deviceCodeForm, deviceConfirmPage, deviceDonePage } from './views/device.js';
import { readSpendingLimit } from './views/spending-limit.js';
import { readCharacterChoice } from './views/character-choice.js';
import type { CharactersService } from '../resources/characters/service.js';
import { formatAmr } from '../accounts/auth-methods.js';

export interface DevicePagesDeps {
  pageSessions: PageSessions;
  decisions: DeviceDecisions;
  /** OPERATOR_NAME, who verifies apps (SPEC §12). */
  operatorName: string;
  /** The user's characters, listed on the confirmation page (SPEC §15). */
  characters: CharactersService;
}

function minutes(ms: number): string {
  const m = Math.ceil(ms / 60_000);
  return `${m} minute${m === 1 ? '' : 's'}`;
}

/**
 * The user side of the device grant (RFC 8628 §3.3, SPEC §9): /device signs
 * the user in first (and comes back), takes the code — from the form or
 * verification_uri_complete — and shows the confirmation; the decision is a
 * CSRF-protected POST. oauth/device/decision.ts decides; these pages parse
 * the forms and show the outcome.
 */
export async function devicePages(scope: FastifyInstance, deps: DevicePagesDeps): Promise<void> {
  const { pageSessions, decisions } = deps;

  const signedIn = async (request: FastifyRequest, reply: FastifyReply): Promise<SessionUser | null> => {
    const user = await pageSessions.user(request);
    if (!user) {
      await reply.code(303).header('location', `${PATHS.login}?${new URLSearchParams({ return_to: request.url }).toString()}`).send();
      return null;
    }
    return user;
  };

  /** The code form again, with what the wrong-code limit said. */
  const refused = (reply: FastifyReply, user: SessionUser, typed: string, refusal: Refusal) => {
    const csrf = pageSessions.csrf(reply);
    const code = typed.slice(0, 64);
    if (refusal.kind === 'suspended') return sendErrorPage(reply, 403, 'unauthorized_client', refusal.message);
    if (refusal.kind === 'wait') return sendPage(reply, 429, deviceCodeForm({ user, csrf, code, error: `Too many wrong codes. Try again in ${minutes(refusal.ms)}.` }));
    const { left } = refusal;
    const error = left > 0 ? `That code is not valid or has expired. Check it on your device (${left} more ${left === 1 ? 'try' : 'tries'} before a 10-minute wait).` : 'Too many wrong codes. Try again in 10 minutes.';
    return sendPage(reply, 400, deviceCodeForm({ user, csrf, code, error }));
  };

  const lookUp = async (reply: FastifyReply, user: SessionUser, typed: string) => {
    const outcome = await decisions.lookUp(user.userId, typed);
    if (outcome.kind !== 'confirm') return refused(reply, user, typed, outcome);
    const userCharacters = outcome.scopes.includes('characters') ? await deps.characters.list({ userId: user.userId }) : [];
    return sendPage(reply, 200, deviceConfirmPage({ ...outcome, user, csrf: pageSessions.csrf(reply), operatorName: deps.operatorName, userCharacters }));
  };

  scope.get(PATHS.device, { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    const typed = (request.query as Record<string, unknown>).user_code;
    if (typeof typed === 'string' && typed !== '') {
      // A navigation another site started (Fetch Metadata) only fills in the form: a page could otherwise
      // send a signed-in user here with wrong codes until the wait holds their own devices for 10 minutes.
      const site = request.headers['sec-fetch-site'];
      if (site === 'cross-site' || site === 'same-site') return sendPage(reply, 200, deviceCodeForm({ user, csrf: pageSessions.csrf(reply), code: typed.slice(0, 64) }));
      // verification_uri_complete: straight to the confirmation, which shows the code to compare (RFC 8628 §3.3.1).
      return lookUp(reply, user, typed);
    }
    return sendPage(reply, 200, deviceCodeForm({ user, csrf: pageSessions.csrf(reply) }));
  });

  scope.post(PATHS.device, { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    return lookUp(reply, user, field(request.body, 'user_code') ?? '');
  });

  scope.post(PATHS.deviceDecision, { schema: { hide: true } }, async (request, reply) => {
    const user = await pageSessions.user(request);
    if (!user) return sendErrorPage(reply, 401, 'login_required', 'Your session has ended. Sign in and enter the code again.');
    const decision = field(request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') return sendErrorPage(reply, 400, 'invalid_request', 'Choose Allow or Deny.');
    const budget = decision === 'allow' ? readSpendingLimit(request.body) : undefined;
    // The choice is limited to the user's own characters (read only when the form has the fieldset).
    const characters = decision === 'allow' && field(request.body, 'characters') !== undefined ? readCharacterChoice(request.body, (await deps.characters.list({ userId: user.userId })).map((c) => c.id)) : undefined;
    const typed = field(request.body, 'user_code') ?? '';
    const outcome = await decisions.decide({ userId: user.userId, authTime: user.authTime, amr: formatAmr(user.amr), sid: user.sid, typed, confirmation: field(request.body, 'confirmation'), decision, budget, characters }, request);
    switch (outcome.kind) {
      case 'wait':
      case 'wrong':
      case 'suspended':
        return refused(reply, user, typed, outcome);
      case 'unconfirmed':
        return sendErrorPage(reply, 400, 'invalid_request', 'This decision did not come from the confirmation page for this code, or that page is too old. Enter the code again.');
      case 'decided_before':
        return sendErrorPage(reply, 400, 'invalid_request', 'This code was already used, was decided already, or has expired. Start again on your device.');
      case 'decided':
        return sendPage(reply, 200, deviceDonePage({ user, csrf: pageSessions.csrf(reply), allowed: outcome.allowed, clientName: outcome.clientName }));
    }
  });
}
