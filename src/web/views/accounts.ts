import { USERNAME_PATTERN } from '../../accounts/usernames.js';
import { PATHS } from '../../paths.js';
import { html, type Html } from '../html.js';
import type { PageOptions } from '../layout.js';

export interface FormState {
  username?: string;
  email?: string;
  error?: string;
  returnTo: string | null;
  csrf: string;
  /** The app whose authorization request is waiting for this sign-in, if any. */
  appName?: string;
}

function returnField(returnTo: string | null) {
  return returnTo ? html`<input type="hidden" name="return_to" value="${returnTo}">` : '';
}

function withReturn(path: string, returnTo: string | null): string {
  return returnTo ? `${path}?return_to=${encodeURIComponent(returnTo)}` : path;
}

function forApp(appName: string | undefined) {
  return appName ? html`<p class="muted">to continue to <strong>${appName}</strong></p>` : '';
}

/** The frame both account forms share: heading, the app asking, the error, the CSRF and return fields, and a footer link. */
function accountForm(state: FormState, heading: string, action: string, fields: Html, footer: Html, after: Html | '' = ''): Html {
  return html`<div class="card">
  <h1>${heading}</h1>
  ${forApp(state.appName)}
  ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ''}
  <form method="post" action="${action}">
    <input type="hidden" name="_csrf" value="${state.csrf}">
    ${returnField(state.returnTo)}
    ${fields}
  </form>
  ${after}
  <p class="hint">${footer}</p>
</div>`;
}

/**
 * SPEC §11: "Sign in with a passkey", a form the passkey script fills with the authenticator's answer and
 * posts. Hidden until that script finds WebAuthn in the browser: without JavaScript it is absent, and the
 * password form alone is the page. The same form takes the answer the username field's autofill gives.
 */
function passkeyForm(state: FormState): Html {
  return html`<form method="post" action="${PATHS.loginPasskey}" data-passkey="authenticate" data-passkey-options="${PATHS.loginPasskeyOptions}" data-passkey-autofill hidden>
    <input type="hidden" name="_csrf" value="${state.csrf}">
    ${returnField(state.returnTo)}
    <input type="hidden" name="response" value="">
    <p class="muted">or</p>
    <div class="actions"><button type="submit" class="secondary">Sign in with a passkey</button></div>
    <p class="error" role="alert" data-passkey-status hidden></p>
  </form>`;
}

export function loginView(state: FormState): PageOptions {
  // "webauthn" in the username's autocomplete: the browser offers the passkeys it holds for Serika there
  // (conditional mediation, WebAuthn §5.1.4.1), beside the saved passwords.
  const fields = html`<label for="username">Username</label>
    <input type="text" id="username" name="username" autocomplete="username webauthn" required maxlength="64" value="${state.username ?? ''}" autofocus>
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="current-password" required maxlength="256">
    <p class="hint"><a href="${PATHS.passwordForgot}">Forgot password?</a></p>
    <div class="actions"><button type="submit">Sign in</button></div>`;
  const footer = html`No account yet? <a href="${withReturn(PATHS.signup, state.returnTo)}">Create account</a>`;
  return { title: 'Sign in', passkeys: true, body: accountForm(state, 'Sign in to Serika', PATHS.login, fields, footer, passkeyForm(state)) };
}

export function signupView(state: FormState): PageOptions {
  const fields = html`<label for="username">Username</label>
    <input type="text" id="username" name="username" autocomplete="username" required minlength="3" maxlength="32" pattern="${USERNAME_PATTERN}" value="${state.username ?? ''}" aria-describedby="username-hint" autofocus>
    <p class="hint" id="username-hint">3–32 letters, digits, “_”, “.” or “-”, starting and ending with a letter or digit.</p>
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="new-password" required minlength="8" maxlength="256" aria-describedby="password-hint">
    <p class="hint" id="password-hint">At least 8 characters.</p>
    <label for="email">Email <span class="muted">(optional)</span></label>
    <input type="email" id="email" name="email" autocomplete="email" maxlength="320" value="${state.email ?? ''}">
    <div class="actions"><button type="submit">Create account</button></div>`;
  const footer = html`Already have an account? <a href="${withReturn(PATHS.login, state.returnTo)}">Sign in</a>`;
  return { title: 'Create account', body: accountForm(state, 'Create your Serika account', PATHS.signup, fields, footer) };
}

export function signupClosedView(): PageOptions {
  return {
    title: 'Sign-up closed',
    body: html`<div class="card"><h1>Sign-up is closed</h1><p>New accounts are created by the administrator on this server.</p><p><a href="${PATHS.login}">Sign in</a></p></div>`,
  };
}
