import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import type { PendingSignIns } from '../../accounts/pending-sign-ins.js';
import type { SessionsService } from '../../accounts/sessions.js';
import type { UsersService } from '../../accounts/users-service.js';
import { AppError } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { DASHBOARD, PATHS } from '../../paths.js';
import { html, type Html } from '../html.js';
import { csrfField, dashboardPage, describedBy, fieldError, userOf } from './common.js';
import { devicesSection } from './devices.js';
import type { SecondFactors } from '../../accounts/second-factors/service.js';
import { twoFactorCard } from './two-factor.js';
import type { Passkeys } from '../../accounts/second-factors/passkeys.js';
import { passkeysSection } from './passkeys.js';
import { accountEmailRoutes, emailSection, type AccountEmailDeps } from './account-email.js';

/** The account: change password, sign out everywhere, delete (with a typed confirmation). */
export async function accountPages(scope: FastifyInstance, deps: { users: UsersService; sessions: SessionsService; pendingSignIns: PendingSignIns; throttle: LoginThrottle; secondFactors: SecondFactors; passkeys: Passkeys } & AccountEmailDeps): Promise<void> {
  const { users, sessions, throttle } = deps;
  const pageSessions = scope.pageSessions;

  const page = async (request: FastifyRequest, reply: FastifyReply, errors: Record<string, string> = {}, notice?: Html, status = 200) => {
    const user = userOf(request);
    return dashboardPage(request, reply, {
      title: 'Account',
      section: DASHBOARD.account,
      status,
      passkeys: true,
      body: html`<h1>Account</h1>${notice ?? ''}
${await emailSection(request, reply, users, errors)}
<div class="card"><h2>Change password</h2>
<form method="post" action="${DASHBOARD.account}/password">${csrfField(reply)}
  <label for="current_password">Current password</label>
  <input type="password" id="current_password" name="current_password" autocomplete="current-password" required${describedBy('current_password', errors)}>
  ${fieldError('current_password', errors)}
  <label for="new_password">New password</label>
  <input type="password" id="new_password" name="new_password" autocomplete="new-password" required minlength="8" maxlength="256"${describedBy('new_password', errors, 'new-password-hint')}>
  <p class="hint" id="new-password-hint">At least 8 characters. Your other sessions are signed out.</p>
  ${fieldError('new_password', errors)}
  <div class="actions"><button type="submit">Change password</button></div>
</form></div>
${await devicesSection(request, reply, sessions)}
${await twoFactorCard(request, reply, deps.secondFactors)}
${await passkeysSection(request, reply, deps.passkeys)}
<div class="card"><h2>Sessions</h2><p>Sign out of Serika on every browser and device, this one included.</p>
<form method="post" action="${DASHBOARD.account}/sign-out-everywhere">${csrfField(reply)}<div class="actions"><button type="submit" class="secondary">Sign out everywhere</button></div></form></div>
<div class="card danger-zone"><h2>Delete account</h2>
<p>This deletes your account with its API keys, OAuth clients (and every grant and token they hold), the apps you connected and their tokens, your characters and your usage history. It cannot be undone.</p>
<form method="post" action="${DASHBOARD.account}/delete">${csrfField(reply)}
  <label for="confirm">Type your username, <strong>${user.username}</strong>, to confirm</label>
  <input type="text" id="confirm" name="confirm" autocomplete="off" required${describedBy('confirm', errors)}>
  ${fieldError('confirm', errors)}
  <div class="actions"><button type="submit" class="danger">Delete my account</button></div>
</form></div>`,
    });
  };

  scope.get(DASHBOARD.account, async (request, reply) => page(request, reply));
  await accountEmailRoutes(scope, deps, page);

  scope.post(`${DASHBOARD.account}/password`, async (request, reply) => {
    const user = userOf(request);
    // The current-password check is slowed like sign-in (UI-05): a stolen session cannot guess at full speed.
    const delay = await throttle.delayFor(user.username);
    if (delay > 0) await sleep(delay);
    try {
      await users.changePassword(user.userId, field(request.body, 'current_password') ?? '', field(request.body, 'new_password') ?? '', request);
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        if (error.param === 'current_password') await throttle.recordFailure(user.username);
        return page(request, reply, { [error.param ?? 'new_password']: error.message }, undefined, 400);
      }
      throw error;
    }
    await throttle.clear(user.username);
    // Every other session ends, half-sessions (the old password's) too; this browser gets a fresh one, established
    // as the old one was (its amr, so its acr: SPEC §11, at the sign-in time they were given: OIDC auth_time): a
    // user signed in with two factors keeps both, and max_age still counts from when they gave them.
    await sessions.endAllForUser(user.userId);
    await deps.pendingSignIns.endAllForUser(user.userId);
    await pageSessions.signIn(request, reply, user.userId, user.amr, { authTime: user.authTime });
    return page(request, reply, {}, html`<p class="notice" role="status">Password changed. Your other sessions were signed out.</p>`);
  });

  scope.post(`${DASHBOARD.account}/sign-out-everywhere`, async (request, reply) => {
    await pageSessions.endSessions(request, userOf(request).userId, 'all');
    pageSessions.dropCookies(reply);
    return reply.code(303).header('location', PATHS.login).send();
  });

  scope.post(`${DASHBOARD.account}/delete`, async (request, reply) => {
    const user = userOf(request);
    if (field(request.body, 'confirm') !== user.username) {
      return page(request, reply, { confirm: `Type ${user.username} exactly to delete the account.` }, undefined, 400);
    }
    await users.delete(user.userId, request);
    pageSessions.dropCookies(reply);
    return reply.code(303).header('location', PATHS.signup).send();
  });
}
