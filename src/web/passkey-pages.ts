import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PASSKEY_SIGN_IN } from '../accounts/auth-methods.js';
import type { Passkeys } from '../accounts/second-factors/passkeys.js';
import type { UsersService } from '../accounts/users-service.js';
import type { AuditService } from '../audit/service.js';
import { AppError } from '../errors.js';
import { field } from '../http/form-body.js';
import type { Telemetry } from '../http/telemetry.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import { underLoginLimit } from './login-limit.js';
import type { SecondStep } from './second-step-pages.js';
import { safeReturnTo, type PageSessions } from './session.js';
import { loginView } from './views/accounts.js';
import { signInAgainView } from './views/two-factor.js';

export interface PasskeyPagesDeps {
  pageSessions: PageSessions;
  passkeys: Passkeys;
  secondStep: SecondStep;
  users: UsersService;
  audit: AuditService;
  telemetry: Telemetry;
  appAsking: (returnTo: string | null) => Promise<string | undefined>;
  /** RATE_LIMIT_LOGIN (0: off): the sign-in's options, which anyone may ask for, are limited per IP to three times it a minute. */
  rateLimitLogin: number;
}

/**
 * Passkeys at sign-in (SPEC §11). Each ceremony is two form posts of the
 * page (same-origin and CSRF guarded like every other): the options, as JSON
 * for the browser's WebAuthn call, then the authenticator's answer, posted
 * as a field of the form, so the answer ends in a redirect exactly as a
 * password does. The passkey script (assets/passkeys.js) drives both.
 */
export async function passkeyPages(scope: FastifyInstance, deps: PasskeyPagesDeps): Promise<void> {
  const { pageSessions, passkeys, secondStep, users, audit, telemetry } = deps;
  const answerOf = (request: FastifyRequest) => field(request.body, 'response') ?? '';

  // Sign-in with a passkey alone: no user is named, the browser offers the discoverable credentials it holds.
  // Each options request stores a challenge; a page load asks once (the autofill) and a click once more.
  const perIp: FastifyContextConfig =
    deps.rateLimitLogin > 0 ? { rateLimit: { max: deps.rateLimitLogin * 3, timeWindow: '1 minute', onExceeded: () => telemetry.rateLimited('login') } } : {};
  scope.post(PATHS.loginPasskeyOptions, { config: perIp }, async (request, reply) => {
    const binding = pageSessions.passkeyBinding(request, reply)!;
    return reply.send(await passkeys.authenticationOptions('sign_in', { binding, userId: null }));
  });

  // Under RATE_LIMIT_LOGIN like a password: a refused answer is a failed sign-in of the address.
  scope.post(PATHS.loginPasskey, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const returnTo = safeReturnTo(field(request.body, 'return_to'));
      const binding = pageSessions.passkeyBinding(request);
      const result = binding === null ? null : await passkeys.authenticate('sign_in', answerOf(request), { binding, userId: null });
      if (!result?.ok) {
        wrong();
        telemetry.loginFailed('bad_passkey');
        const target = result && !result.ok ? (result.userId ?? null) : null;
        await audit.record({ type: 'sign_in.failed', userId: target, detail: { factor: 'passkey', refused: result?.refused ?? 'challenge' } }, request);
        const state = { returnTo, csrf: pageSessions.csrf(reply), appName: await deps.appAsking(returnTo), error: 'That passkey could not sign you in. Try again, or sign in with your password.' };
        return sendPage(reply, 401, loginView(state));
      }
      const userId = result.value.userId;
      try {
        // SPEC §12: a suspended user signs in by no path; the key was right, so saying why is no oracle.
        await pageSessions.refuseSuspended(userId);
      } catch (error) {
        if (!(error instanceof AppError) || error.code !== 'account_suspended') throw error;
        await audit.record({ type: 'sign_in.refused', userId, detail: { factor: 'passkey' } }, request);
        return sendPage(reply, 403, loginView({ returnTo, csrf: pageSessions.csrf(reply), appName: await deps.appAsking(returnTo), error: error.message }));
      }
      // A half-session a password left in this browser is moot now: the passkey proved more.
      await pageSessions.endPending(request, reply);
      await pageSessions.signIn(request, reply, userId, PASSKEY_SIGN_IN);
      await audit.record({ type: 'sign_in.succeeded', userId, detail: { amr: PASSKEY_SIGN_IN.join(' '), factor: 'passkey' } }, request);
      return reply.code(303).header('location', returnTo ?? PATHS.dashboard).send();
    }),
  );

  const pendingVerify = async (request: FastifyRequest) => {
    const pending = await pageSessions.pendingSignIn(request);
    return pending?.stage === 'verify' ? pending : null;
  };
  const backToLogin = (reply: FastifyReply) => reply.code(303).header('location', PATHS.login).send();

  // The second step with a passkey: the user's own credentials, the challenge bound to the half-session.
  scope.post(PATHS.loginVerifyPasskeyOptions, async (request, reply) => {
    const pending = await pendingVerify(request);
    if (!pending) return reply.code(401).send({ error: 'no sign-in under way' });
    return reply.send(await passkeys.authenticationOptions('second_step', { binding: pageSessions.binding(request), userId: pending.userId }));
  });

  // A refused answer takes one of the half-session's tries, as a wrong code does, and counts against the address.
  scope.post(PATHS.loginVerifyPasskey, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const pending = await pendingVerify(request);
      if (!pending) return backToLogin(reply);
      const result = await passkeys.authenticate('second_step', answerOf(request), { binding: pageSessions.binding(request), userId: pending.userId });
      if (result.ok) return secondStep.passed(request, reply, pending, 'pop', 'passkey');
      wrong();
      await audit.record({ type: 'sign_in.failed', userId: pending.userId, detail: { factor: 'passkey', refused: result.refused } }, request);
      const left = await pageSessions.takeCodeTry(request);
      if (left === null) return backToLogin(reply);
      if (left > 0) return secondStep.verifyPage(request, reply, pending, 401, 'That passkey could not verify this sign-in. Try again.');
      await pageSessions.endPending(request, reply);
      return sendPage(reply, 401, signInAgainView());
    }),
  );

  // MFA=required's set-up with a passkey: the half-session has just given the password, so no other proof
  // is asked; the challenge is bound to it, the passkey is the user's second factor from then on.
  scope.post(PATHS.loginTwoFactorPasskeyOptions, async (request, reply) => {
    const pending = await secondStep.pendingEnroll(request, reply);
    if ('sendTo' in pending) return reply.code(409).send({ error: 'This sign-in no longer sets up a factor: reload the page.' });
    const user = await users.findById(pending.userId);
    if (!user) return reply.code(401).send({ error: 'no sign-in under way' });
    return reply.send(await passkeys.registrationOptions({ id: user.id, username: user.username }, pageSessions.binding(request)));
  });
  scope.post(PATHS.loginTwoFactorPasskey, async (request, reply) => {
    const pending = await secondStep.pendingEnroll(request, reply);
    if ('sendTo' in pending) return reply.code(303).header('location', pending.sendTo).send();
    const result = await passkeys.register(pending.userId, field(request.body, 'name') ?? '', answerOf(request), pageSessions.binding(request), request);
    if (!result.ok) return secondStep.enrollPage(reply, pending.userId, 400, 'That passkey could not be added. Try again, or set up an authenticator app.');
    await secondStep.enrolled(request, reply, pending, 'pop');
    return reply.code(303).header('location', pending.returnTo ?? PATHS.dashboard).send();
  });
}
