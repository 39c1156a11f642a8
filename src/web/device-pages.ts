import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../accounts/sessions.js';
import type { UsersService } from '../accounts/users-service.js';
import { parseAudience } from '../audiences.js';
import type { ClientsService } from '../clients/service.js';
import type { GrantsService } from '../consent/grants.js';
import type { AuditService } from '../audit/service.js';
import { field } from '../http/form-body.js';
import type { DeviceCodeAttempts } from '../oauth/device/attempts.js';
import { MAX_WRONG_CODES } from '../oauth/device/attempts.js';
import type { DeviceCodes } from '../oauth/device/store.js';
import { displayUserCode, normalizeUserCode } from '../oauth/device/user-codes.js';
import { PATHS } from '../paths.js';
import { parseScopes } from '../scopes.js';
import { sendPage } from './layout.js';
import { sendErrorPage } from './page-errors.js';
import type { PageSessions } from './session.js';
import { deviceCodeForm, deviceConfirmPage, deviceDonePage } from './views/device.js';
import { InvalidSpendingLimit, readSpendingLimit } from './views/spending-limit.js';
import type { BudgetsService } from '../consent/budgets.js';
import type { BudgetLimit } from '../consent/budget-rules.js';

export interface DevicePagesDeps {
  pageSessions: PageSessions;
  devices: DeviceCodes;
  attempts: DeviceCodeAttempts;
  clients: ClientsService;
  users: UsersService;
  grants: GrantsService;
  audit: AuditService;
  budgets: BudgetsService;
}

function minutes(ms: number): string {
  const m = Math.ceil(ms / 60_000);
  return `${m} minute${m === 1 ? '' : 's'}`;
}

/**
 * The user side of the device grant (RFC 8628 §3.3, SPEC §9): /device signs
 * the user in first (and comes back), takes the code — from the form or
 * verification_uri_complete — and shows the confirmation; the decision is a
 * CSRF-protected POST taken once.
 */
export async function devicePages(scope: FastifyInstance, deps: DevicePagesDeps): Promise<void> {
  const { pageSessions, devices, attempts, clients, users, grants, audit, budgets } = deps;

  const signedIn = async (request: FastifyRequest, reply: FastifyReply): Promise<SessionUser | null> => {
    const user = await pageSessions.user(request);
    if (!user) {
      await reply.code(303).header('location', `${PATHS.login}?${new URLSearchParams({ return_to: request.url })}`).send();
      return null;
    }
    return user;
  };

  /** Looks the typed code up within the attempt limit, and shows the confirmation or the form again. */
  const lookUp = async (reply: FastifyReply, user: SessionUser, typed: string) => {
    const csrf = pageSessions.csrf(reply);
    const wait = await attempts.waitFor(user.userId);
    if (wait > 0) {
      return sendPage(reply, 429, deviceCodeForm({ user, csrf, code: typed.slice(0, 64), error: `Too many wrong codes. Try again in ${minutes(wait)}.` }));
    }
    const code = normalizeUserCode(typed);
    const row = code === null ? undefined : await devices.findPending(code);
    const client = row && (await clients.findRegistered(row.client_id));
    if (!row || !client) {
      const wrong = await attempts.recordWrong(user.userId);
      const left = MAX_WRONG_CODES - wrong;
      const error = left > 0 ? `That code is not valid or has expired. Check it on your device (${left} more ${left === 1 ? 'try' : 'tries'} before a 10-minute wait).` : 'Too many wrong codes. Try again in 10 minutes.';
      return sendPage(reply, 400, deviceCodeForm({ user, csrf, code: typed.slice(0, 64), error }));
    }
    const owner = client.ownerId === null ? undefined : await users.findById(client.ownerId);
    return sendPage(
      reply,
      200,
      deviceConfirmPage({
        user,
        csrf,
        client,
        ownerName: client.ownerId === null ? null : (owner?.username ?? 'unknown'),
        scopes: parseScopes(row.scopes),
        audience: parseAudience(row.resources),
        code: displayUserCode(code!),
        startedAt: row.created_at,
        startedFrom: row.request_ip,
        requestedBudget: row.budget === null ? null : (JSON.parse(row.budget) as BudgetLimit),
        currentBudget: await budgets.get(user.userId, client.clientId),
      }),
    );
  };

  scope.get(PATHS.device, { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (!user) return reply;
    const typed = (request.query as Record<string, unknown>).user_code;
    // verification_uri_complete: straight to the confirmation, which shows the code to compare (RFC 8628 §3.3.1).
    if (typeof typed === 'string' && typed !== '') return lookUp(reply, user, typed);
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
    let budget: BudgetLimit | null | undefined;
    try {
      budget = decision === 'allow' ? readSpendingLimit(request.body) : undefined;
    } catch (error) {
      if (error instanceof InvalidSpendingLimit) return sendErrorPage(reply, 400, 'invalid_request', `${error.message} Go back and correct it.`);
      throw error;
    }
    const code = normalizeUserCode(field(request.body, 'user_code') ?? '');
    const row = code === null ? null : await devices.decide(code, user.userId, user.authTime, decision === 'allow' ? 'approved' : 'denied');
    if (!row) return sendErrorPage(reply, 400, 'invalid_request', 'This code was already used, was decided already, or has expired. Start again on your device.');
    const client = await clients.findRegistered(row.client_id);
    const clientName = client?.name ?? 'The app';
    if (decision === 'allow' && client) {
      await grants.allow(user.userId, client.clientId, parseScopes(row.scopes), parseAudience(row.resources), { device: true });
      if (budget !== undefined) await budgets.set(user.userId, client.clientId, budget, undefined, request);
      if (client.ownerId === null) await clients.markGranted(client.clientId);
    } else {
      await audit.record({ type: 'device.denied', userId: user.userId, clientId: row.client_id }, request);
    }
    await attempts.clear(user.userId);
    return sendPage(reply, 200, deviceDonePage({ user, csrf: pageSessions.csrf(reply), allowed: decision === 'allow', clientName }));
  });
}
