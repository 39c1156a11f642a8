import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import type { Passkeys } from '../../accounts/second-factors/passkeys.js';
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
  passkeys: Passkeys;
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

/** What the admin proves it with (SPEC §12): a second factor when they have one, else the password. */
interface Proofs {
  code: boolean;
  passkey: boolean;
  password: boolean;
}

const proofsOf = (factors: readonly string[]): Proofs => {
  const code = factors.includes('totp');
  const passkey = factors.includes('passkey');
  return { code, passkey, password: !code && !passkey };
};

const asked = (p: Proofs) =>
  p.code && p.passkey ? 'a code from your authenticator app, or your passkey' : p.code ? 'a code from your authenticator app' : p.passkey ? 'your passkey' : 'your password';

/**
 * SPEC §12: the admin pages ask, once every REAUTH_EVERY_MS, for the admin's second factor (a current code of
 * the authenticator app, or a passkey), or their password when they have none; throttled like sign-in guesses
 * (UI-05) and counted against the address as failed sign-ins (RATE_LIMIT_LOGIN). The time is kept on the session
 * (reauth_at), set here and nowhere else: the password an account change asks of an older session
 * (recent-auth.ts) never opens the console of an admin who has a second factor. Passing is an audit event.
 */
export async function reauthPages(scope: FastifyInstance, deps: ReauthDeps): Promise<void> {
  const { secondFactors, users, secondStep, throttle, audit, passkeys } = deps;
  const minutes = REAUTH_EVERY_MS / 60_000;
  const pageSessions = scope.pageSessions;

  const form = async (request: FastifyRequest, reply: FastifyReply, returnTo: string, status = 200, error?: string) => {
    const proofs = proofsOf(await secondFactors.factorsOf(adminOf(request).userId));
    const returnField = html`<input type="hidden" name="return_to" value="${returnTo}">`;
    const typed = proofs.code
      ? html`<form method="post" action="${ADMIN.reauth}">${csrfField(reply)}${returnField}
<label for="proof">Authentication code</label>
<input id="proof" name="proof" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus>
<div class="actions"><button type="submit">Verify</button></div></form>`
      : proofs.password
        ? html`<form method="post" action="${ADMIN.reauth}">${csrfField(reply)}${returnField}
<label for="proof">Password</label>
<input id="proof" name="proof" type="password" autocomplete="current-password" required autofocus>
<div class="actions"><button type="submit">Verify</button></div></form>`
        : '';
    // The passkey's prompt (assets/passkeys.js): hidden until the script finds WebAuthn in the browser.
    const passkey = proofs.passkey
      ? html`<form method="post" action="${ADMIN.reauthPasskey}" data-passkey="authenticate" data-passkey-options="${ADMIN.reauthPasskeyOptions}" hidden>${csrfField(reply)}${returnField}
<input type="hidden" name="response" value="">
${proofs.code ? html`<p class="muted">or</p>` : ''}
<div class="actions"><button type="submit"${proofs.code ? html` class="secondary"` : ''}>${proofs.code ? 'Verify with a passkey' : 'Verify'}</button></div>
<p class="error" role="alert" data-passkey-status hidden></p></form>
${proofs.code ? '' : html`<noscript><p class="error">Your passkey needs JavaScript: turn it on for this page to go on.</p></noscript>`}`
      : '';
    return adminPage(request, reply, {
      title: 'Confirm it is you',
      section: null,
      status,
      passkeys: proofs.passkey,
      body: html`<div class="card"><h1>Confirm it is you</h1>
<p>The admin pages ask every ${minutes} minutes for ${asked(proofs)}.</p>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
${typed}${passkey}</div>`,
    });
  };

  const passed = async (request: FastifyRequest, reply: FastifyReply, returnTo: string, factor: 'totp' | 'passkey' | 'password') => {
    await pageSessions.markReauthenticated(request);
    await audit.record({ type: 'admin.reauthenticated', userId: adminOf(request).userId, actorId: adminOf(request).userId, detail: { factor } }, request);
    return reply.code(303).header('location', returnTo).send();
  };

  scope.get(ADMIN.reauth, async (request, reply) => form(request, reply, adminReturn((request.query as Record<string, unknown>).return_to)));

  scope.post(ADMIN.reauth, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const admin = adminOf(request);
      const returnTo = adminReturn(field(request.body, 'return_to'));
      const proof = field(request.body, 'proof') ?? '';
      const proofs = proofsOf(await secondFactors.factorsOf(admin.userId));
      // An admin whose one factor is a passkey proves it with the passkey: a password is not looked at.
      if (!proofs.code && !proofs.password) return form(request, reply, returnTo, 400, 'Confirm it is you with your passkey.');
      let tried: { failures: number } | { waitSeconds: number };
      let right = false;
      if (proofs.code) {
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
        return form(request, reply, returnTo, 401, proofs.code ? 'That code is not valid. Enter the current code from your app.' : 'That is not your password.');
      }
      return passed(request, reply, returnTo, proofs.code ? 'totp' : 'password');
    }),
  );

  // The passkey's ceremony: the admin's own credentials, the challenge bound to this session (a challenge of the
  // sign-in's second step is bound to a half-session instead, so neither answers the other).
  scope.post(ADMIN.reauthPasskeyOptions, async (request, reply) =>
    reply.send(await passkeys.authenticationOptions('second_step', { binding: pageSessions.binding(request), userId: adminOf(request).userId })),
  );

  // A refused answer counts against the address like a wrong code.
  scope.post(ADMIN.reauthPasskey, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const admin = adminOf(request);
      const returnTo = adminReturn(field(request.body, 'return_to'));
      const result = await passkeys.authenticate('second_step', field(request.body, 'response') ?? '', { binding: pageSessions.binding(request), userId: admin.userId });
      if (result.ok) return passed(request, reply, returnTo, 'passkey');
      wrong();
      return form(request, reply, returnTo, 401, 'That passkey could not confirm it is you. Try again.');
    }),
  );
}
