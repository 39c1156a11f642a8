import { PATHS } from '../../paths.js';
import { html, type Html } from '../html.js';
import type { PageOptions } from '../layout.js';

/** SPEC §11's answer to every reset request, whether or not it named an account. */
export const RESET_REQUESTED = 'If that account has a verified email, we sent a link to it.';

function card(heading: string, body: Html, error?: string): Html {
  return html`<div class="card">
  <h1>${heading}</h1>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  ${body}
</div>`;
}

function csrfInput(csrf: string): Html {
  return html`<input type="hidden" name="_csrf" value="${csrf}">`;
}

/** /password/forgot: the form, or (sent) the one answer every request gets. */
export function forgotView(state: { csrf: string; identifier?: string; error?: string; sent?: boolean }): PageOptions {
  const notice = state.sent ? html`<p class="notice" role="status">${RESET_REQUESTED}</p>` : '';
  return {
    title: 'Forgot password',
    body: card(
      'Reset your password',
      html`${notice}<p>Enter your username or the verified email address of your account; we mail a link that sets a new password.</p>
  <form method="post" action="${PATHS.passwordForgot}">
    ${csrfInput(state.csrf)}
    <label for="identifier">Username or email</label>
    <input type="text" id="identifier" name="identifier" autocomplete="username" required maxlength="320" value="${state.identifier ?? ''}" autofocus>
    <div class="actions"><button type="submit">Send reset link</button></div>
  </form>
  <p class="hint"><a href="${PATHS.login}">Back to sign in</a></p>`,
      state.error,
    ),
  };
}

/** /password/reset?token=…: the new password. */
export function resetView(state: { csrf: string; token: string; error?: string }): PageOptions {
  return {
    title: 'Reset password',
    body: card(
      'Choose a new password',
      html`<form method="post" action="${PATHS.passwordReset}">
    ${csrfInput(state.csrf)}
    <input type="hidden" name="token" value="${state.token}">
    <label for="password">New password</label>
    <input type="password" id="password" name="password" autocomplete="new-password" required minlength="8" maxlength="256" aria-describedby="password-hint" autofocus>
    <p class="hint" id="password-hint">At least 8 characters. Every session of your account is signed out.</p>
    <div class="actions"><button type="submit">Reset password</button></div>
  </form>`,
      state.error,
    ),
  };
}

export function resetDoneView(): PageOptions {
  return {
    title: 'Password reset',
    body: card('Password reset', html`<p class="notice" role="status">Your password was reset and every session of your account was signed out.</p><p><a href="${PATHS.login}">Sign in</a> with the new password.</p>`),
  };
}

/** A mailed link that is unknown, expired, used, or (reset) made before the password last changed. */
export function deadLinkView(kind: 'reset' | 'verify'): PageOptions {
  const again =
    kind === 'reset'
      ? html`<p><a href="${PATHS.passwordForgot}">Ask for a new link</a>.</p>`
      : html`<p>Sign in and save your address again on the Account page to get a new link.</p>`;
  return {
    title: 'Link not valid',
    body: card('This link is not valid', html`<p>It has expired, was already used, or was replaced by a newer one.</p>${again}`),
  };
}

/** /email/verify?token=…, followed (SPEC §11: the link verifies): the address, and the account it is now verified for. */
/** A link opened where its account is not signed in: it names the account, and verifies only by the button. */
export function verifyView(state: { csrf: string; token: string; email: string; username: string }): PageOptions {
  return {
    title: 'Verify email',
    body: card(
      'Verify your email address',
      html`<p>Confirm that <strong>${state.email}</strong> is your address, for the Serika account <strong>${state.username}</strong>.</p>
  <p>Not your account? Close this page: nothing is verified unless you press the button.</p>
  <form method="post" action="${PATHS.emailVerify}">
    ${csrfInput(state.csrf)}
    <input type="hidden" name="token" value="${state.token}">
    <div class="actions"><button type="submit">Verify email address</button></div>
  </form>`,
    ),
  };
}

export function verifiedView(email: string, username: string): PageOptions {
  return {
    title: 'Email verified',
    body: card(
      'Email verified',
      html`<p class="notice" role="status"><strong>${email}</strong> is verified for the Serika account <strong>${username}</strong>.</p><p><a href="${PATHS.dashboard}">Go to your dashboard</a></p>`,
    ),
  };
}

/** A used or expired link followed by a signed-in user whose address is verified already: nothing to do. */
export function alreadyVerifiedView(email: string): PageOptions {
  return {
    title: 'Email already verified',
    body: card('Your email is already verified', html`<p class="notice" role="status"><strong>${email}</strong> is verified. This link was used or has expired; nothing more to do.</p><p><a href="${PATHS.dashboard}">Go to your dashboard</a></p>`),
  };
}

export function emailTakenView(): PageOptions {
  return {
    title: 'Email already in use',
    body: card(
      'This address is already verified on another account',
      html`<p>An email address can be verified on one Serika account only. Use another address on your Account page, or sign in to the account that has this one.</p>`,
    ),
  };
}
