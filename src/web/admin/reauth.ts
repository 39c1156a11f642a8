import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import type { SecondFactors } from '../../accounts/second-factors/service.js';
import type { UsersService } from '../../accounts/users-service.js';
import type { AuditService } from '../../audit/service.js';
import { field } from '../../http/form-body.js';
import { ADMIN } from '../../paths.js';
import { html } from '../html.js';
import { underLoginLimit } from '../login-limit.js';
import { inSeconds, tooManyWrong, type SecondStep } from '../second-step-pages.js';
import { safeReturnTo } from '../session.js';
import { adminOf, adminPage, csrfField, REAUTH_EVERY_MS } from './common.js';

export interface ReauthDeps {
  secondFactors: SecondFactors;
  users: UsersService;
  secondStep: SecondStep;
  throttle: LoginThrottle;
  audit: AuditService;
}

/** A path under /admin to go back to after the check, never anywhere else. */
function adminReturn(value: unknown): string {
  const path = safeReturnTo(value);
  return path !== null && (path === ADMIN.root || path.startsWith(`${ADMIN.root}/`)) && !path.startsWith(ADMIN.reauth) ? path : ADMIN.users;
}

/**
 * SPEC §12: the admin pages ask, once every REAUTH_EVERY_MS, for a current code of the admin's second factor, or
 * their password when they have none; throttled like sign-in guesses (UI-05) and counted against the address as
 * failed sign-ins (RATE_LIMIT_LOGIN). The time is kept on the session; passing is an audit event.
 */
export async function reauthPages(scope: FastifyInstance, deps: ReauthDeps): Promise<void> {
  const { secondFactors, users, secondStep, throttle, audit } = deps;
  const minutes = REAUTH_EVERY_MS / 60_000;

  const form = async (request: FastifyRequest, reply: FastifyReply, returnTo: string, status = 200, error?: string) => {
    const hasFactor = (await secondFactors.factorsOf(adminOf(request).userId)).length > 0;
    const input = hasFactor
      ? html`<label for="proof">Authentication code</label>
<input id="proof" name="proof" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus>`
      : html`<label for="proof">Password</label>
<input id="proof" name="proof" type="password" autocomplete="current-password" required autofocus>`;
    return adminPage(request, reply, {
      title: 'Confirm it is you',
      section: null,
      status,
      body: html`<div class="card"><h1>Confirm it is you</h1>
<p>The admin pages ask every ${minutes} minutes for ${hasFactor ? 'a code from your authenticator app' : 'your password'}.</p>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="${ADMIN.reauth}">${csrfField(reply)}<input type="hidden" name="return_to" value="${returnTo}">
${input}
<div class="actions"><button type="submit">Verify</button></div></form></div>`,
    });
  };

  scope.get(ADMIN.reauth, async (request, reply) => form(request, reply, adminReturn((request.query as Record<string, unknown>).return_to)));

  scope.post(ADMIN.reauth, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const admin = adminOf(request);
      const returnTo = adminReturn(field(request.body, 'return_to'));
      const proof = field(request.body, 'proof') ?? '';
      const hasFactor = (await secondFactors.factorsOf(admin.userId)).length > 0;
      let tried: { failures: number } | { waitSeconds: number };
      let right = false;
      if (hasFactor) {
        tried = await secondStep.takeCodeTry(admin.userId);
        if ('failures' in tried) right = /^\d{6}$/.test(proof.trim()) && (await secondStep.checkCode(request, admin.userId, proof, tried.failures)) === 'totp';
      } else {
        tried = inSeconds(await throttle.takeNameTry(admin.username));
        // The try was counted as a failure: a right password clears the count.
        if ('failures' in tried) right = (await users.verifyCredentials(admin.username, proof)) !== null;
        if (right) await throttle.clear(admin.username);
      }
      if ('waitSeconds' in tried) {
        reply.header('retry-after', String(tried.waitSeconds));
        return form(request, reply, returnTo, 429, tooManyWrong('tries', tried.waitSeconds));
      }
      if (!right) {
        wrong();
        return form(request, reply, returnTo, 401, hasFactor ? 'That code is not valid. Enter the current code from your app.' : 'That is not your password.');
      }
      await scope.pageSessions.markReauthenticated(request);
      await audit.record({ type: 'admin.reauthenticated', userId: admin.userId, actorId: admin.userId, detail: { factor: hasFactor ? 'totp' : 'password' } }, request);
      return reply.code(303).header('location', returnTo).send();
    }),
  );
}
