import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmailVerification } from '../accounts/email-verification.js';
import type { PasswordReset } from '../accounts/password-reset.js';
import type { UsersService } from '../accounts/users-service.js';
import { AppError } from '../errors.js';
import { field } from '../http/form-body.js';
import { setRetryAfter } from '../http/retry-after.js';
import type { Telemetry } from '../http/telemetry.js';
import { PATHS } from '../paths.js';
import { sendPage } from './layout.js';
import type { PageSessions } from './session.js';
import { alreadyVerifiedView, deadLinkView, emailTakenView, forgotView, resetDoneView, resetView, verifiedView, verifyView } from './views/mailed-links.js';

/**
 * Every reset request is answered this long after it arrived, whatever it
 * found (SPEC §11: "in the same time"): looking up an account and queueing a
 * message take a few milliseconds more than finding none, and this hides them.
 * No SMTP server is ever waited on (the outbox sends later).
 */
export const FORGOT_ANSWER_MS = 400;

/** The forgot form's allowance per client address: this many accounts' RATE_LIMIT_MAIL. */
export const FORGOT_ACCOUNTS_PER_ADDRESS = 10;

/** Waits until a moment of the services' clock (ms). The server sleeps; a test may record the moment instead. */
export type WaitUntil = (deadline: number) => Promise<void>;

/** The server's WaitUntil: a sleep until `deadline` as `now` reads the time. */
export function sleepUntil(now: () => number): WaitUntil {
  return (deadline) => sleep(Math.max(0, deadline - now()));
}

export interface MailedLinkPagesDeps {
  pageSessions: PageSessions;
  passwordReset: PasswordReset;
  emailVerification: EmailVerification;
  users: UsersService;
  telemetry: Telemetry;
  /** The services' clock, and how the forgot form waits on it for its one moment to answer. */
  now: () => number;
  waitUntil: WaitUntil;
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

  // SPEC §11: "The answer is always the same page, in the same time": one deadline, fixed on arrival, that every
  // way out waits for: an unknown name, a known one (looked up, a link queued), an account over RATE_LIMIT_MAIL
  // ("not sent, same page"), an address over its hourly share of the same limit, and a fault.
  scope.post(PATHS.passwordForgot, async (request, reply) => {
    const deadline = deps.now() + FORGOT_ANSWER_MS;
    const identifier = field(request.body, 'identifier') ?? '';
    try {
      // Per address before anything is looked up (an empty form counts nothing). Past it nothing is sent, and the
      // page says nothing of it either: a different answer would let one address tell accounts apart by when the
      // limit shows. The log says it.
      if (identifier.trim() !== '') {
        const seconds = await deps.mailAllowance(request.ip);
        if (seconds === null) await passwordReset.request(identifier, request);
        else {
          deps.telemetry.rateLimited('mail');
          request.log.warn({ limit: 'RATE_LIMIT_MAIL', perAddress: true, retryAfter: seconds }, 'password reset request over the per-address limit: nothing sent');
        }
      }
    } catch (error) {
      // A fault only a real account's path can meet (its link's transaction, the outbox) must not answer otherwise
      // than an unknown name does: logged without the name, and the same page.
      request.log.error({ err: error }, 'password reset request failed: nothing sent');
    } finally {
      // Padded on every way out.
      await deps.waitUntil(deadline);
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

  // SPEC §11: following the link verifies the address ("until it is followed email_verified stays false"), once.
  const verifyPage = async (request: FastifyRequest, reply: FastifyReply, token: string) => {
    const outcome = await emailVerification.verify(token, request);
    if (outcome.verified) return sendPage(reply, 200, verifiedView(outcome.email, outcome.username));
    if (outcome.reason === 'taken') return sendPage(reply, 409, emailTakenView());
    // Used or expired: a signed-in user whose address is verified already (the link followed twice) is told so.
    const user = await pageSessions.user(request);
    const account = user ? await deps.users.findById(user.userId) : undefined;
    if (account?.email && account.verifiedEmail) return sendPage(reply, 200, alreadyVerifiedView(account.email));
    return sendPage(reply, 400, deadLinkView('verify'));
  };

  // Followed by the account's owner, signed in in this browser, the link verifies at once. Opened anywhere else (a
  // mail scanner, or the victim of someone who saved their address on another account) it only names the account,
  // and the address is verified by the confirmation form's POST: a GET must not vouch for someone else's account.
  scope.get(PATHS.emailVerify, async (request, reply) => {
    const token = tokenOf(request, 'query');
    const pending = await emailVerification.pending(token);
    const user = pending ? await pageSessions.user(request) : null;
    if (pending && user?.userId !== pending.userId) return sendPage(reply, 200, verifyView({ csrf: csrf(reply), token, email: pending.email, username: pending.username }));
    return verifyPage(request, reply, token);
  });

  scope.post(PATHS.emailVerify, async (request, reply) => verifyPage(request, reply, tokenOf(request, 'body')));
}
