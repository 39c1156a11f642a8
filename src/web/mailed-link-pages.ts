import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmailVerification } from '../accounts/email-verification.js';
import type { PasswordReset } from '../accounts/password-reset.js';
import { AppError } from '../errors.js';
import { field } from '../http/form-body.js';
import { setRetryAfter } from '../http/retry-after.js';
import type { Telemetry } from '../http/telemetry.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import type { PageSessions } from './session.js';
import { deadLinkView, emailTakenView, forgotView, resetDoneView, resetView, verifiedView, verifyView } from './views/mailed-links.js';

/**
 * Every reset request is answered this long after it arrived, whatever it
 * found (SPEC §11: "in the same time"): looking up an account and queueing a
 * message take a few milliseconds more than finding none, and this hides them.
 * No SMTP server is ever waited on (the outbox sends later).
 */
export const FORGOT_ANSWER_MS = 400;

export interface MailedLinkPagesDeps {
  pageSessions: PageSessions;
  passwordReset: PasswordReset;
  emailVerification: EmailVerification;
  telemetry: Telemetry;
  /** RATE_LIMIT_MAIL per address: null when allowed, else seconds until it is. */
  mailAllowance: (ip: string) => Promise<number | null>;
  /** RATE_LIMIT_LOGIN per address for reset posts: null when allowed, else seconds until it is. */
  resetAllowance: (ip: string) => Promise<number | null>;
}

const tokenOf = (request: FastifyRequest, from: 'query' | 'body'): string => {
  const value = from === 'query' ? (request.query as Record<string, unknown>).token : field(request.body, 'token');
  return typeof value === 'string' ? value.slice(0, 64) : '';
};

/** The pages behind mailed links (SPEC §11): forgot password, reset password, verify email. */
export async function mailedLinkPages(scope: FastifyInstance, deps: MailedLinkPagesDeps): Promise<void> {
  const { pageSessions, passwordReset, emailVerification } = deps;
  const csrf = (reply: FastifyReply) => pageSessions.csrf(reply);

  scope.get(PATHS.passwordForgot, async (_request, reply) => sendPage(reply, 200, forgotView({ csrf: csrf(reply) })));

  scope.post(PATHS.passwordForgot, async (request, reply) => {
    const started = performance.now();
    const identifier = field(request.body, 'identifier') ?? '';
    // Per address before anything is looked up: the refusal says nothing of any account.
    const seconds = await deps.mailAllowance(request.ip);
    if (seconds !== null) {
      deps.telemetry.rateLimited('mail');
      const minutes = Math.max(1, Math.ceil(seconds / 60));
      const error = `Too many reset links were asked for from your network in the last hour. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
      return sendPage(setRetryAfter(reply, seconds), 429, forgotView({ csrf: csrf(reply), identifier, error }));
    }
    try {
      if (identifier.trim() !== '') await passwordReset.request(identifier, request);
    } finally {
      // Padded on every way out: a fault that only a real account's path can meet must not answer sooner (review #6).
      await sleep(Math.max(0, FORGOT_ANSWER_MS - (performance.now() - started)));
    }
    return sendPage(reply, 200, forgotView({ csrf: csrf(reply), sent: true }));
  });

  scope.get(PATHS.passwordReset, async (request, reply) => {
    const token = tokenOf(request, 'query');
    if (!(await passwordReset.isLive(token))) return sendPage(reply, 400, deadLinkView('reset'));
    return sendPage(reply, 200, resetView({ csrf: csrf(reply), token }));
  });

  scope.post(PATHS.passwordReset, async (request, reply) => {
    const token = tokenOf(request, 'body');
    // Each post guesses at a token like a sign-in at a password: limited per address the same way, before any lookup.
    const seconds = await deps.resetAllowance(request.ip);
    if (seconds !== null) {
      deps.telemetry.rateLimited('password_reset');
      const error = `Too many password resets were tried from your network. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
      return sendPage(setRetryAfter(reply, seconds), 429, resetView({ csrf: csrf(reply), token, error }));
    }
    try {
      const outcome = await passwordReset.reset(token, field(request.body, 'password') ?? '', request);
      if (!outcome.reset) return sendPage(reply, 400, deadLinkView('reset'));
    } catch (error) {
      if (error instanceof AppError && error.status < 500) return sendPage(reply, 400, resetView({ csrf: csrf(reply), token, error: error.message }));
      throw error;
    }
    // This browser's session, if it had one, ended with the others.
    pageSessions.dropCookies(reply);
    return sendPage(reply, 200, resetDoneView());
  });

  scope.get(PATHS.emailVerify, async (request, reply) => {
    const token = tokenOf(request, 'query');
    const pending = await emailVerification.pendingVerification(token);
    if (pending === null) return sendPage(reply, 400, deadLinkView('verify'));
    return sendPage(reply, 200, verifyView({ csrf: csrf(reply), token, ...pending }));
  });

  scope.post(PATHS.emailVerify, async (request, reply) => {
    const outcome = await emailVerification.verify(tokenOf(request, 'body'), request);
    if (outcome.verified) return sendPage(reply, 200, verifiedView(outcome.email));
    return outcome.reason === 'taken' ? sendPage(reply, 409, emailTakenView()) : sendPage(reply, 400, deadLinkView('verify'));
  });
}
