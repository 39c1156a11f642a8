import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeEmail } from '../../accounts/email-addresses.js';
import type { EmailVerification } from '../../accounts/email-verification.js';
import type { UsersService } from '../../accounts/users-service.js';
import { AppError } from '../../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import { field } from '../../http/form-body.js';
import { setRetryAfter } from '../../http/retry-after.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { csrfField, describedBy, fieldError, proofNeeded, userOf } from './common.js';

/** How the Account page renders itself with errors, a notice and a status. */
type AccountPage = (request: FastifyRequest, reply: FastifyReply, errors?: Record<string, string>, notice?: Html, status?: number) => Promise<FastifyReply>;

export interface AccountEmailDeps {
  users: UsersService;
  throttle: LoginThrottle;
  emailVerification: EmailVerification;
  /** RATE_LIMIT_MAIL for this account: null when a message may go, else seconds until one may. */
  mailAllowance: (userId: string) => Promise<number | null>;
}

function validEmail(raw: string): boolean {
  try {
    normalizeEmail(raw);
    return true;
  } catch {
    return false;
  }
}

/** The Account page's "Email" card (SPEC §11): the address, whether it is verified, and a form to change it. */
export async function emailSection(request: FastifyRequest, reply: FastifyReply, users: UsersService, errors: Record<string, string>): Promise<Html> {
  const user = await users.findById(userOf(request).userId);
  const email = user?.email ?? null;
  const state = email === null ? '' : user?.verifiedEmail ? html` <span class="badge">verified</span>` : html` <span class="badge warning">not verified</span>`;
  return html`<div class="card"><h2>Email</h2>
<p>${email === null ? 'No address yet. With a verified one you can reset a forgotten password.' : html`<strong>${email}</strong>${state}`}</p>
${email !== null && !user?.verifiedEmail ? html`<p class="hint">Follow the link we mailed to it (it works for 24 hours). Saving the address again sends a new one.</p>` : ''}
<form method="post" action="${DASHBOARD.account}/email">${csrfField(reply)}
  <label for="email">Email</label>
  <input type="email" id="email" name="email" autocomplete="email" maxlength="320" value="${email ?? ''}"${describedBy('email', errors)}>
  ${fieldError('email', errors)}
  ${
    proofNeeded(request)
      ? html`<label for="email_password">Confirm with your password</label>
  <input type="password" id="email_password" name="current_password" autocomplete="current-password" required${describedBy('email_password', errors, 'email-password-hint')}>
  <p class="hint" id="email-password-hint">You signed in more than 15 minutes ago: your password confirms it is you.</p>
  ${fieldError('email_password', errors)}`
      : ''
  }
  <div class="actions"><button type="submit">Save</button></div>
</form></div>`;
}

/** POST /dashboard/account/email: a new address gets a verification link, within RATE_LIMIT_MAIL. */
export async function accountEmailRoutes(scope: FastifyInstance, deps: AccountEmailDeps, page: AccountPage): Promise<void> {
  scope.post(`${DASHBOARD.account}/email`, async (request, reply) => {
    const user = userOf(request);
    const raw = field(request.body, 'email') ?? '';
    // Whoever controls the address can reset the password: a session older than 15 minutes (one left open, or
    // stolen) gives the password first (recent-auth.ts; security review of issue 34). Slowed like sign-in.
    if (proofNeeded(request)) {
      const given = field(request.body, 'current_password');
      if (given === undefined || given === '') return page(request, reply, { email_password: 'Enter your password to save the address.' }, undefined, 400);
      const delay = await deps.throttle.delayFor(user.username);
      if (delay > 0) await sleep(delay);
      if (!(await deps.users.passwordMatches(user.userId, given))) {
        await deps.throttle.recordFailure(user.username);
        return page(request, reply, { email_password: 'The current password is not correct.' }, undefined, 400);
      }
      await deps.throttle.clear(user.username);
      await scope.pageSessions.markConfirmed(request, user);
    }
    // Only a valid address counts against RATE_LIMIT_MAIL (a typo costs no message).
    if (raw.trim() !== '' && validEmail(raw)) {
      const seconds = await deps.mailAllowance(user.userId);
      if (seconds !== null) {
        const minutes = Math.max(1, Math.ceil(seconds / 60));
        const error = `Too many emails were sent for your account in the last hour. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
        return page(request, setRetryAfter(reply, seconds), { email: error }, undefined, 429);
      }
    }
    let outcome: { email: string | null; sent: boolean; limited: boolean };
    try {
      outcome = await deps.emailVerification.change({ id: user.userId, username: user.username }, raw, request);
    } catch (error) {
      if (error instanceof AppError && error.status < 500) return page(request, reply, { email: error.message }, undefined, 400);
      throw error;
    }
    const notice =
      outcome.email === null
        ? 'Email address removed.'
        : outcome.sent
          ? `We sent a verification link to ${outcome.email}. It works for 24 hours.`
          : outcome.limited
            ? `${outcome.email} was saved, but it has had too many emails in the last hour: save it again later to get a verification link.`
            : `${outcome.email} is already verified.`;
    return page(request, reply, {}, html`<p class="notice" role="status">${notice}</p>`);
  });
}
