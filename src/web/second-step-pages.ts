import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { failureEvents, type LoginThrottle } from '../accounts/login-throttle.js';
import { withSecondFactor, type AuthMethod } from '../accounts/auth-methods.js';
import type { PendingSignIn } from '../accounts/pending-sign-ins.js';
import type { SecondFactors, SecondStepMethod } from '../accounts/second-factors/service.js';
import { totpUri } from '../accounts/second-factors/totp.js';
import type { UsersService } from '../accounts/users-service.js';
import type { AuditService } from '../audit/service.js';
import type { Config } from '../config.js';
import { field } from '../http/form-body.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import type { PageSessions } from './session.js';
import { underLoginLimit, type LoginIpLimit } from './login-limit.js';
import { requiredSetupView, secondStepView, signInAgainView, setupDoneView, totpSetupFields } from './views/two-factor.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** What follows a right password, for every page that signs in or checks a second factor. */
    secondStep: SecondStep;
  }
}

/** The failures-table key second-step codes are counted under, per user, apart from the password's. */
const secondStepThrottleKey = (userId: string) => `otp:${userId}`;

export interface SecondStepDeps {
  config: Config;
  users: UsersService;
  secondFactors: SecondFactors;
  pageSessions: PageSessions;
  throttle: LoginThrottle;
  /** RATE_LIMIT_LOGIN, shared with /login: a wrong code is a failed sign-in of the address (null: off). */
  loginLimit: LoginIpLimit | null;
  audit: AuditService;
  /** The app a return_to's authorization request names, for the page's "to continue to". */
  appAsking: (returnTo: string | null) => Promise<string | undefined>;
}

/**
 * What follows a right password (SPEC §11): with a second factor set up, a half-session and
 * its second step; under MFA=required without one, setting one up; else the session at once.
 * The factors the user has decide the step: an authenticator app's code, a passkey prompt, or both
 * (passkey-pages.ts takes the passkey's answer).
 */
export class SecondStep {
  constructor(private readonly deps: SecondStepDeps) {}

  /** RATE_LIMIT_LOGIN's failed sign-ins per address, for every page that checks a sign-in's proof. */
  get loginLimit(): LoginIpLimit | null {
    return this.deps.loginLimit;
  }

  /** Signs in, or sends the browser to the step still due. */
  async afterPassword(request: FastifyRequest, reply: FastifyReply, userId: string, returnTo: string | null): Promise<FastifyReply> {
    const { secondFactors, pageSessions, config, audit } = this.deps;
    // A suspended user is refused before a second step is asked of them (the session's start refuses them too).
    await pageSessions.refuseSuspended(userId);
    const amr: AuthMethod[] = ['pwd'];
    if ((await secondFactors.factorsOf(userId)).length > 0) {
      await pageSessions.startPending(request, reply, { userId, amr, stage: 'verify', returnTo });
      return reply.code(303).header('location', PATHS.loginVerify).send();
    }
    if (config.mfa === 'required') {
      await pageSessions.startPending(request, reply, { userId, amr, stage: 'enroll', returnTo });
      return reply.code(303).header('location', PATHS.loginTwoFactorSetup).send();
    }
    await pageSessions.signIn(request, reply, userId, amr);
    await audit.record({ type: 'sign_in.succeeded', userId, detail: { amr: 'pwd' } }, request);
    return reply.code(303).header('location', returnTo ?? PATHS.dashboard).send();
  }

  /** The second step's page: each factor the user has, with an error when a try was refused. */
  async verifyPage(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, status = 200, error?: string): Promise<FastifyReply> {
    const { pageSessions, appAsking, secondFactors } = this.deps;
    const factors = await secondFactors.factorsOf(pending.userId);
    return sendPage(reply, status, secondStepView(PATHS.loginVerify, { csrf: pageSessions.csrf(reply), error, appName: await appAsking(pending.returnTo), factors }));
  }

  /**
   * The second step was passed: the half-session ends, the session starts with both factors' methods
   * (`second`: "otp" for a code, "pop" for a passkey; RFC 8176 lists every method used, so a password and
   * a passkey are ["pwd","pop","mfa"]), and the browser goes where the sign-in was headed.
   */
  async passed(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, second: 'otp' | 'pop', factor: SecondStepMethod | 'passkey'): Promise<FastifyReply> {
    const { pageSessions, audit } = this.deps;
    const amr = withSecondFactor(pending.amr, second);
    await pageSessions.endPending(request, reply);
    await pageSessions.signIn(request, reply, pending.userId, amr);
    await audit.record({ type: 'sign_in.succeeded', userId: pending.userId, detail: { amr: amr.join(' '), factor } }, request);
    return reply.code(303).header('location', pending.returnTo ?? PATHS.dashboard).send();
  }

  /**
   * MFA=required's set-up page: an authenticator app (its QR code and secret) and, where the browser can
   * make one, a passkey; `error` says why the last try was refused.
   */
  async enrollPage(reply: FastifyReply, userId: string, status = 200, error?: string): Promise<FastifyReply> {
    const { users, secondFactors, config, pageSessions } = this.deps;
    const user = await users.findById(userId);
    const secret = await secondFactors.setupSecret(userId);
    if (!user || secret === null) return reply.code(303).header('location', PATHS.login).send();
    const fields = await totpSetupFields({ uri: totpUri(secret, new URL(config.publicUrl).host, user.username), secret, error });
    return sendPage(reply, status, requiredSetupView(PATHS.loginTwoFactorSetup, pageSessions.csrf(reply), fields));
  }

  /**
   * The half-session MFA=required started to set a factor up, while it still may; else where to send the
   * browser. A user who has a factor by now (set up in another browser meanwhile) goes to the second step
   * instead: a password alone never adds a factor beside one it cannot pass.
   */
  async pendingEnroll(request: FastifyRequest, reply: FastifyReply): Promise<PendingSignIn | { sendTo: string }> {
    const { pageSessions, secondFactors } = this.deps;
    const pending = await pageSessions.pendingSignIn(request);
    if (pending?.stage !== 'enroll') return { sendTo: PATHS.login };
    if ((await secondFactors.factorsOf(pending.userId)).length === 0) return pending;
    await pageSessions.startPending(request, reply, { ...pending, stage: 'verify' });
    return { sendTo: PATHS.loginVerify };
  }

  /** The factor MFA=required asked for is set up: the half-session becomes a session with both methods. */
  async enrolled(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, second: 'otp' | 'pop'): Promise<void> {
    const amr = withSecondFactor(pending.amr, second);
    await this.deps.pageSessions.endPending(request, reply);
    await this.deps.pageSessions.signIn(request, reply, pending.userId, amr);
    await this.deps.audit.record({ type: 'sign_in.succeeded', userId: pending.userId, detail: { amr: amr.join(' '), factor: second === 'otp' ? 'totp' : 'passkey' } }, request);
  }

  /** A signed-in user asked for a second factor (acr_values): the same step, then back to `returnTo`. */
  async stepUp(request: FastifyRequest, reply: FastifyReply, sign: Omit<PendingSignIn, 'stage'>): Promise<FastifyReply> {
    await this.deps.pageSessions.startPending(request, reply, { ...sign, stage: 'verify' });
    return reply.code(303).header('location', PATHS.loginVerify).send();
  }

  /**
   * Takes a try at a code of the user's second factor, throttled like passwords (UI-05: slowed
   * more and more per user, never locked out) but refusing while the delay is in force rather
   * than sleeping through it: tries sent together cannot all wait out one delay and all be
   * checked. The try is counted as a failure here (LoginThrottle.takeTry); checkCode settles it.
   */
  async takeCodeTry(userId: string): Promise<{ failures: number } | { waitSeconds: number }> {
    return inSeconds(await this.deps.throttle.takeTry(secondStepThrottleKey(userId)));
  }

  /**
   * Checks a code whose try takeCodeTry took (`failures`: the count it returned). Null when
   * wrong; each failure is an audit event up to the slowdown, then the burst that starts it
   * and every doubling.
   */
  async checkCode(request: FastifyRequest, userId: string, code: string, failures: number, purpose: ProofPurpose = 'sign_in'): Promise<'totp' | 'recovery_code' | null> {
    const { throttle, secondFactors, audit } = this.deps;
    const method = await secondFactors.verifyCode(userId, code, request);
    if (method) {
      await throttle.clearKey(secondStepThrottleKey(userId));
      return method;
    }
    const report = failureEvents(failures);
    // What was tried, as the Activity page says it: the app's code has six digits, anything else is a recovery code.
    const factor = /^\d{6}$/.test(code.trim()) ? 'totp' : 'recovery_code';
    if (report.failed) await audit.record({ type: REFUSED_EVENTS[purpose], userId, detail: { factor } }, request);
    if (report.throttled) {
      await audit.record({ type: 'sign_in.throttled', userId, detail: { factor: 'totp', failures } }, request);
    }
    return null;
  }
}

/** What a code (or the password) is given for: a sign-in's second step, turning a factor off, adding a passkey. */
export type ProofPurpose = 'sign_in' | 'turn_off' | 'add_passkey' | 'add_totp';

const REFUSED_EVENTS = { sign_in: 'sign_in.failed', turn_off: 'second_factor.remove_refused', add_passkey: 'second_factor.add_refused', add_totp: 'second_factor.add_refused' } as const;

/** A throttle's try (LoginThrottle.takeTry) with its wait in whole seconds, as Retry-After and the page say it. */
export const inSeconds = (taken: { failures: number } | { waitMs: number }): { failures: number } | { waitSeconds: number } =>
  'waitMs' in taken ? { waitSeconds: Math.ceil(taken.waitMs / 1000) } : taken;

/** What a page says of a proof refused unchecked, a delay still in force (429, with its Retry-After). */
export const tooManyWrong = (what: 'codes' | 'tries', waitSeconds: number) => `Too many wrong ${what}; wait ${waitSeconds} second${waitSeconds === 1 ? '' : 's'} and try again.`;

/** /login/verify (the second step) and /login/two-factor (set-up when MFA=required), on a half-session only. */
export async function secondStepPages(scope: FastifyInstance, deps: SecondStepDeps & { secondStep: SecondStep }): Promise<void> {
  const { pageSessions, secondFactors, secondStep } = deps;

  const pendingAt = async (request: FastifyRequest, stage: PendingSignIn['stage']) => {
    const pending = await pageSessions.pendingSignIn(request);
    return pending?.stage === stage ? pending : null;
  };
  const backToLogin = (reply: FastifyReply) => reply.code(303).header('location', PATHS.login).send();
  const verifyPage = secondStep.verifyPage.bind(secondStep);

  scope.get(PATHS.loginVerify, async (request, reply) => {
    const pending = await pendingAt(request, 'verify');
    return pending ? verifyPage(request, reply, pending) : backToLogin(reply);
  });

  // A wrong code counts against the address like a wrong password (loginIpLimit), against the user (the
  // throttle's delay), and against the half-session: CODE_TRIES, then the password again.
  scope.post(PATHS.loginVerify, async (request, reply) =>
    underLoginLimit(deps.loginLimit, request, async (wrong) => {
      const pending = await pendingAt(request, 'verify');
      if (!pending) return backToLogin(reply);
      const tried = await secondStep.takeCodeTry(pending.userId);
      if ('waitSeconds' in tried) {
        reply.header('retry-after', String(tried.waitSeconds));
        return verifyPage(request, reply, pending, 429, tooManyWrong('codes', tried.waitSeconds));
      }
      const left = await pageSessions.takeCodeTry(request);
      if (left === null) return backToLogin(reply);
      const method = await secondStep.checkCode(request, pending.userId, field(request.body, 'code') ?? '', tried.failures);
      if (!method) {
        wrong();
        if (left > 0) return verifyPage(request, reply, pending, 401, 'That code is not valid. Try the current code from your app, or a recovery code.');
        await pageSessions.endPending(request, reply);
        return sendPage(reply, 401, signInAgainView());
      }
      // RFC 8176: a TOTP code and a recovery code are both one-time passwords.
      return secondStep.passed(request, reply, pending, 'otp', method);
    }),
  );

  const setupPage = secondStep.enrollPage.bind(secondStep);

  scope.get(PATHS.loginTwoFactorSetup, async (request, reply) => {
    const pending = await secondStep.pendingEnroll(request, reply);
    return 'sendTo' in pending ? reply.code(303).header('location', pending.sendTo).send() : setupPage(reply, pending.userId);
  });

  scope.post(PATHS.loginTwoFactorSetup, async (request, reply) => {
    const pending = await secondStep.pendingEnroll(request, reply);
    if ('sendTo' in pending) return reply.code(303).header('location', pending.sendTo).send();
    const codes = await secondFactors.confirmTotp(pending.userId, field(request.body, 'code') ?? '', request);
    if (!codes) return setupPage(reply, pending.userId, 400, 'That code is not valid. Enter the current code from your app.');
    await secondStep.enrolled(request, reply, pending, 'otp');
    return sendPage(reply, 200, setupDoneView(codes, pending.returnTo ?? PATHS.dashboard));
  });
}
