import type { AuditService } from '../../audit/service.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import type { SecondFactors } from '../../accounts/second-factors/service.js';
import { totpUri } from '../../accounts/second-factors/totp.js';
import type { UsersService } from '../../accounts/users-service.js';
import { field } from '../../http/form-body.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { underLoginLimit } from '../login-limit.js';
import { inSeconds, tooManyWrong, type ProofPurpose, type SecondStep } from '../second-step-pages.js';
import { recoveryCodesBlock, totpSetupFields } from '../views/two-factor.js';
import { csrfField, dashboardPage, describedBy, fieldError, plural, proofNeeded, userOf } from './common.js';

const BASE = `${DASHBOARD.account}/two-factor`;

export interface TwoFactorDeps {
  secondFactors: SecondFactors;
  users: UsersService;
  secondStep: SecondStep;
  throttle: LoginThrottle;
  audit: AuditService;
  issuer: string;
}

/** The Account page's "Two-factor authentication" card: on (turn off) or off (set up). */
export async function twoFactorCard(request: FastifyRequest, reply: FastifyReply, secondFactors: SecondFactors, errors: Record<string, string> = {}): Promise<Html> {
  const userId = userOf(request).userId;
  const factors = await secondFactors.factorsOf(userId);
  if (!factors.includes('totp')) {
    const state = factors.includes('passkey')
      ? 'On: your passkeys are the second step after your password. You may add an authenticator app too.'
      : 'Off. With it on, signing in asks for a code from an authenticator app after your password.';
    return html`<div class="card" id="two-factor"><h2>Two-factor authentication</h2>
<p>${state}</p>
<p><a class="button-link" href="${BASE}/setup">Set up authenticator app</a></p></div>`;
  }
  const left = await secondFactors.recoveryCodesLeft(userId);
  return html`<div class="card" id="two-factor"><h2>Two-factor authentication</h2>
<p>On: authenticator app. ${plural(left, 'recovery code')} left.</p>
<form method="post" action="${BASE}/off">${csrfField(reply)}
  <label for="turn_off_proof">Current code or password</label>
  <input type="password" id="turn_off_proof" name="proof" autocomplete="current-password" required maxlength="256"${describedBy('proof', errors, 'turn-off-hint')}>
  <p class="hint" id="turn-off-hint">A code from your authenticator app, or your password.</p>
  ${fieldError('proof', errors)}
  <div class="actions"><button type="submit" class="danger">Turn off</button></div>
</form></div>`;
}

/**
 * The password or a current code, each throttled like sign-in (UI-05) and refused unchecked while its delay
 * is in force: a stolen session cannot guess either at full speed where a factor is turned off or a passkey
 * added or removed. A wrong one is an audit event of its purpose. True, false, or the seconds to wait.
 */
export async function proofOf(
  deps: Pick<TwoFactorDeps, 'secondStep' | 'throttle' | 'users' | 'audit'>,
  request: FastifyRequest,
  user: { userId: string; username: string },
  proof: string,
  purpose: Exclude<ProofPurpose, 'sign_in'>,
): Promise<boolean | { waitSeconds: number }> {
  const { secondStep, throttle, users } = deps;
  if (/^\d{6}$/.test(proof.trim())) {
    const tried = await secondStep.takeCodeTry(user.userId);
    return 'waitSeconds' in tried ? tried : (await secondStep.checkCode(request, user.userId, proof, tried.failures, purpose)) === 'totp';
  }
  const tried = inSeconds(await throttle.takeNameTry(user.username));
  if ('waitSeconds' in tried) return tried;
  // The try was counted as a failure: a right password clears the count.
  const right = (await users.verifyCredentials(user.username, proof)) !== null;
  if (right) await throttle.clear(user.username);
  else await deps.audit.record({ type: purpose === 'turn_off' ? 'second_factor.remove_refused' : 'second_factor.add_refused', userId: user.userId, detail: { factor: 'password' } }, request);
  return right;
}

/** Setting the authenticator app up and turning it off (SPEC §11), under the Account section. */
export async function twoFactorPages(scope: FastifyInstance, deps: TwoFactorDeps): Promise<void> {
  const { secondFactors, secondStep, issuer } = deps;

  /**
   * Asked only of a session older than 15 minutes (proofNeeded, recent-auth.ts): the password, before any
   * secret is made or shown. A fresh session goes straight to the QR code, as SPEC §11 words the set-up.
   */
  const passwordPage = async (request: FastifyRequest, reply: FastifyReply, status = 200, error?: string) => {
    const errors: Record<string, string> = error ? { password: error } : {};
    return dashboardPage(request, reply, {
      title: 'Set up authenticator app',
      section: DASHBOARD.account,
      status,
      body: html`<div class="card"><h1>Set up authenticator app</h1>
<form method="post" action="${BASE}/setup/password">${csrfField(reply)}
<label for="setup_password">Password</label>
<input type="password" id="setup_password" name="password" autocomplete="current-password" required maxlength="256" autofocus${describedBy('password', errors, 'setup-password-hint')}>
<p class="hint" id="setup-password-hint">You signed in more than 15 minutes ago: your password first, since whoever turns two-factor authentication on decides how this account signs in.</p>
${fieldError('password', errors)}
<div class="actions"><button type="submit">Continue</button><a class="button-link" href="${DASHBOARD.account}">Cancel</a></div></form></div>`,
    });
  };

  /** The QR code and the secret, and the code that confirms them: shown only to a recently authenticated session. */
  const setupPage = async (request: FastifyRequest, reply: FastifyReply, status = 200, error?: string) => {
    const user = userOf(request);
    // The app is on already: nothing to set up. Else no secret is made before the session may see it.
    if ((await secondFactors.factorsOf(user.userId)).includes('totp')) return reply.code(303).header('location', DASHBOARD.account).send();
    if (proofNeeded(request)) return passwordPage(request, reply);
    const secret = await secondFactors.setupSecret(user.userId);
    if (secret === null) return reply.code(303).header('location', DASHBOARD.account).send();
    const fields = await totpSetupFields({ uri: totpUri(secret, new URL(issuer).host, user.username), secret, error });
    return dashboardPage(request, reply, {
      title: 'Set up authenticator app',
      section: DASHBOARD.account,
      status,
      body: html`<div class="card"><h1>Set up authenticator app</h1>
<form method="post" action="${BASE}/setup">${csrfField(reply)}${fields}
<div class="actions"><button type="submit">Turn on</button><a class="button-link" href="${DASHBOARD.account}">Cancel</a></div></form></div>`,
    });
  };

  scope.get(`${BASE}/setup`, async (request, reply) => setupPage(request, reply));

  // An older session's password (security reviews of issue 34): a session someone else holds must neither see
  // the secret nor put its own authenticator on the account and lock the owner out. Throttled and counted like
  // /login guesses. It confirms the session for account changes only (markConfirmed), never for the admin
  // pages: an admin's re-authentication is a second factor when they have one (SPEC §12, admin/reauth.ts).
  scope.post(`${BASE}/setup/password`, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const user = userOf(request);
      // The app is on already: nothing to set up, and nothing a password alone may confirm here.
      if ((await secondFactors.factorsOf(user.userId)).includes('totp')) return reply.code(303).header('location', DASHBOARD.account).send();
      const password = field(request.body, 'password') ?? '';
      // Passwords have 8 characters or more: six digits here would be taken for a code, so they are simply wrong.
      const right = password.length >= 8 ? await proofOf(deps, request, user, password, 'add_totp') : false;
      if (right !== true) {
        const refused = right !== false;
        if (refused) reply.header('retry-after', String(right.waitSeconds));
        else wrong();
        return passwordPage(request, reply, refused ? 429 : 400, refused ? tooManyWrong('tries', right.waitSeconds) : 'That is not your password.');
      }
      await scope.pageSessions.markConfirmed(request, user);
      return reply.code(303).header('location', `${BASE}/setup`).send();
    }),
  );

  scope.post(`${BASE}/setup`, async (request, reply) => (proofNeeded(request) ? passwordPage(request, reply, 403, 'Enter your password again to go on.') : confirmSetup(request, reply)));

  const confirmSetup = async (request: FastifyRequest, reply: FastifyReply) => {
    const codes = await secondFactors.confirmTotp(userOf(request).userId, field(request.body, 'code') ?? '', request);
    if (!codes) return setupPage(request, reply, 400, 'That code is not valid. Enter the current code from your app.');
    // Sessions signed in with the password alone end with it (security review of issue 34): whoever held one
    // must now pass the second step. This browser's session stays.
    await scope.pageSessions.endSessions(request, userOf(request).userId, 'others');
    return dashboardPage(request, reply, {
      title: 'Two-factor authentication is on',
      section: DASHBOARD.account,
      body: html`<div class="card"><h1>Two-factor authentication is on</h1><p>Your other sessions were signed out.</p>${recoveryCodesBlock(codes)}<p><a href="${DASHBOARD.account}">Back to Account</a></p></div>`,
    });
  };

  // SPEC §11: turning it off asks for a current code or the password, either one throttled like sign-in guesses.
  // A wrong proof is a failed sign-in of the address too (RATE_LIMIT_LOGIN, the counter /login uses).
  scope.post(`${BASE}/off`, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const user = userOf(request);
      const proven = await proofOf(deps, request, user, field(request.body, 'proof') ?? '', 'turn_off');
      if (proven !== true) {
        const refused = proven !== false;
        if (refused) reply.header('retry-after', String(proven.waitSeconds));
        else wrong();
        const card = await twoFactorCard(request, reply, secondFactors, { proof: refused ? tooManyWrong('tries', proven.waitSeconds) : 'That is neither a current code nor your password.' });
        return dashboardPage(request, reply, { title: 'Account', section: DASHBOARD.account, status: refused ? 429 : 400, body: html`<h1>Account</h1>${card}` });
      }
      await secondFactors.removeTotp(user.userId, request);
      return reply.code(303).header('location', DASHBOARD.account).send();
    }),
  );
}
