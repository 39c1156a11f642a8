import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { failureEvents, type LoginThrottle } from '../accounts/login-throttle.js';
import type { UsersService } from '../accounts/users-service.js';
import type { ClientsService } from '../clients/service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { field } from '../http/form-body.js';
import { setRetryAfter } from '../http/retry-after.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import { safeReturnTo, type PageSessions } from './session.js';
import { loginView, signupClosedView, signupView, type FormState } from './views/accounts.js';
import type { AuditService } from '../audit/service.js';
import type { Telemetry } from '../http/telemetry.js';
import { underLoginLimit, type LoginIpLimit } from './login-limit.js';
import type { RateCounter } from '../http/rate-limit-store.js';
import type { SecondStep } from './second-step-pages.js';

export interface AccountsPagesDeps {
  config: Config;
  users: UsersService;
  clients: ClientsService;
  pageSessions: PageSessions;
  throttle: LoginThrottle;
  audit: AuditService;
  telemetry: Telemetry;
  rateCounter: RateCounter;
  /** RATE_LIMIT_LOGIN: failed sign-ins per address and minute, shared with the second step (null: off). */
  loginLimit: LoginIpLimit | null;
  /** What follows a right password: the second step, a factor's set-up (MFA=required), or the session. */
  secondStep: SecondStep;
}

/** The app waiting behind a sign-in, named on the page (an authorization request's client). */
export function appAskingFor(clients: ClientsService): (returnTo: string | null) => Promise<string | undefined> {
  return async (returnTo) => {
    if (!returnTo?.startsWith(`${PATHS.authorize}?`)) return undefined;
    const clientId = new URLSearchParams(returnTo.slice(returnTo.indexOf('?') + 1)).get('client_id');
    return clientId ? (await clients.findRegistered(clientId))?.name : undefined;
  };
}

/** Sign-up, sign-in and sign-out (SPEC §2). */
export async function accountsPages(scope: FastifyInstance, deps: AccountsPagesDeps): Promise<void> {
  const { config, users, clients, pageSessions, throttle, audit, telemetry } = deps;
  const perIp: FastifyContextConfig =
    config.rateLimitLogin > 0 ? { rateLimit: { max: config.rateLimitLogin, timeWindow: '1 minute', onExceeded: () => telemetry.rateLimited('login') } } : {};
  // SPEC §1 RATE_LIMIT_SIGNUP: accounts created per IP per hour. Counted before the account is made (sign-ups
  // sent together cannot all pass before any is counted), given back when none was made.
  const signupKey = (request: FastifyRequest) => `signup:${request.ip}`;

  const appAsking = appAskingFor(clients);
  const form = async (reply: FastifyReply, state: Omit<FormState, 'csrf' | 'appName'>): Promise<FormState> => ({
    ...state,
    csrf: pageSessions.csrf(reply),
    appName: await appAsking(state.returnTo),
  });
  const signedIn = (reply: FastifyReply, returnTo: string | null) => reply.code(303).header('location', returnTo ?? PATHS.dashboard).send();
  const returnToOf = (request: FastifyRequest, from: 'query' | 'body') =>
    safeReturnTo(from === 'query' ? (request.query as Record<string, unknown>).return_to : field(request.body, 'return_to'));

  scope.get(PATHS.login, async (request, reply) => {
    const returnTo = returnToOf(request, 'query');
    const query = request.query as Record<string, unknown>;
    // OIDC prompt=login / max_age: the app asked for a fresh sign-in, so the form is shown even to a signed-in user.
    const fresh = query.prompt === 'login';
    if (!fresh && (await pageSessions.user(request))) return signedIn(reply, returnTo);
    const hint = typeof query.login_hint === 'string' ? query.login_hint.slice(0, 64) : undefined;
    return sendPage(reply, 200, loginView(await form(reply, { returnTo, username: hint })));
  });

  scope.post(PATHS.login, async (request, reply) => {
    // Counted before the password is checked, given back unless it was wrong (see loginIpLimit).
    return underLoginLimit(deps.loginLimit, request, (wrong) => signIn(request, reply, wrong));
  });

  const signIn = async (request: FastifyRequest, reply: FastifyReply, wrong: () => void) => {
    const returnTo = returnToOf(request, 'body');
    const username = field(request.body, 'username');
    const password = field(request.body, 'password');
    if (!username || !password) {
      telemetry.loginFailed('missing_credentials');
      return sendPage(reply, 400, loginView(await form(reply, { returnTo, username, error: 'Enter your username and password.' })));
    }
    // UI-05: slowed more and more per username; the same path for unknown users and wrong passwords.
    const delay = await throttle.delayFor(username);
    if (delay > 0) await sleep(delay);
    const user = await users.verifyCredentials(username, password);
    if (!user) {
      wrong();
      // One reason for unknown names and wrong passwords, as the page gives: the metric tells no one which names exist.
      telemetry.loginFailed('bad_credentials');
      const failures = await throttle.recordFailure(username);
      // A failure is an event of the account it targets; never the password, and for a name no account has,
      // not the name either (it is often a password typed in the wrong box): the row keeps the address only.
      const target = username.length <= 64 ? ((await users.findByUsername(username))?.id ?? null) : null;
      const named: Record<string, string> = target === null ? {} : { username };
      const report = failureEvents(failures);
      if (report.failed) await audit.record({ type: 'sign_in.failed', userId: target, detail: named }, request);
      if (report.throttled) {
        await audit.record({ type: 'sign_in.throttled', userId: target, detail: { ...named, failures } }, request);
      }
      return sendPage(reply, 401, loginView(await form(reply, { returnTo, username, error: 'Incorrect username or password.' })));
    }
    await throttle.clear(username);
    try {
      return await deps.secondStep.afterPassword(request, reply, user.id, returnTo);
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'account_suspended') throw error;
      // The password was right, so saying why is no oracle for it (SPEC §12).
      await audit.record({ type: 'sign_in.refused', userId: user.id, detail: { username } }, request);
      return sendPage(reply, 403, loginView(await form(reply, { returnTo, username, error: error.message })));
    }
  };

  scope.get(PATHS.signup, async (request, reply) => {
    if (config.signup === 'closed') return sendPage(reply, 403, signupClosedView());
    const returnTo = returnToOf(request, 'query');
    if (await pageSessions.user(request)) return signedIn(reply, returnTo);
    return sendPage(reply, 200, signupView(await form(reply, { returnTo })));
  });

  scope.post(PATHS.signup, { config: perIp }, async (request, reply) => {
    if (config.signup === 'closed') return sendPage(reply, 403, signupClosedView());
    const returnTo = returnToOf(request, 'body');
    const username = field(request.body, 'username') ?? '';
    const email = field(request.body, 'email');
    if (config.rateLimitSignup > 0) {
      const seconds = await deps.rateCounter.take(signupKey(request), config.rateLimitSignup, 3_600_000);
      if (seconds !== null) {
        telemetry.rateLimited('signup');
        const minutes = Math.max(1, Math.ceil(seconds / 60));
        const error = `Too many accounts have been created from your network in the last hour. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
        return sendPage(setRetryAfter(reply, seconds), 429, signupView(await form(reply, { returnTo, username, email, error })));
      }
    }
    let userId: string;
    try {
      userId = (await users.create({ username, password: field(request.body, 'password') ?? '', email: email ?? null })).id;
    } catch (error) {
      if (config.rateLimitSignup > 0) await deps.rateCounter.giveBack(signupKey(request));
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return sendPage(reply, error.status === 409 ? 409 : 400, signupView(await form(reply, { returnTo, username, email, error: error.message })));
    }
    // MFA=required: a new account sets up its second factor before its first session, like any sign-in.
    if (config.mfa === 'required') return deps.secondStep.afterPassword(request, reply, userId, returnTo);
    await pageSessions.signIn(request, reply, userId);
    return signedIn(reply, returnTo);
  });

  scope.post(PATHS.logout, async (request, reply) => {
    await pageSessions.signOut(request, reply);
    return reply.code(303).header('location', PATHS.login).send();
  });
}
