import QRCode from 'qrcode';
import { html, Html } from '../html.js';
import type { PageOptions } from '../layout.js';
import { PATHS } from '../../paths.js';
import { PASSKEY_NAME_MAX } from '../../accounts/second-factors/passkeys.js';
import type { SecondFactorKind } from '../../accounts/second-factors/service.js';

/**
 * The authenticator app's set-up fields (SPEC §11), shared by the Account page and the
 * set-up MFA=required asks for at sign-in: the QR code, drawn here as inline SVG (no
 * request leaves Serika), the secret for typing in, and the code that confirms it.
 */
export async function totpSetupFields(options: { uri: string; secret: string; error?: string }): Promise<Html> {
  // The SVG comes from qrcode (paths and rects only), not from input: inserted as markup.
  const svg = new Html(await QRCode.toString(options.uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 0 }));
  return html`<p>Scan this QR code with your authenticator app (1Password, Google Authenticator, Authy…), or enter the secret by hand.</p>
<figure class="qr" role="img" aria-label="QR code of the authenticator app's secret">${svg}</figure>
<p id="totp-secret-label"><strong>Secret</strong></p>
<div class="copy-row"><code id="totp-secret" class="mono" aria-labelledby="totp-secret-label">${options.secret}</code><button type="button" class="secondary" data-copy="totp-secret">Copy</button></div>
<label for="code">Code from the app</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required aria-describedby="code-hint${options.error ? ' code-error' : ''}"${options.error ? html` aria-invalid="true"` : ''}>
<p class="hint" id="code-hint">The 6-digit code the app shows now.</p>
${options.error ? html`<p class="field-error" id="code-error" role="alert">${options.error}</p>` : ''}`;
}

/** The ten recovery codes, shown once after the set-up. */
export function recoveryCodesBlock(codes: readonly string[]): Html {
  return html`<div class="secret" role="status">
<p><strong>Recovery codes</strong> — save them now: they cannot be shown again. Each one signs you in once if you lose your authenticator app.</p>
<ul class="recovery-codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ul>
<button type="button" class="secondary" data-copy="recovery-codes">Copy</button>
</div>`;
}

export interface SecondStepState {
  csrf: string;
  error?: string;
  /** The app waiting behind the sign-in, if any. */
  appName?: string;
  /** The user's factors: each one the page offers. */
  factors: readonly SecondFactorKind[];
}

/**
 * SPEC §11: the sign-in's second step: "Authentication code" (the app's code or a recovery code), button
 * "Verify", and, for a user with passkeys, the passkey prompt beside it. The passkey form is hidden until the
 * passkey script finds WebAuthn in the browser (without JavaScript, a user whose one factor is a passkey is
 * told so).
 */
export function secondStepView(action: string, state: SecondStepState): PageOptions {
  const code = state.factors.includes('totp');
  const passkey = state.factors.includes('passkey');
  return {
    title: 'Two-factor authentication',
    passkeys: passkey,
    body: html`<div class="card">
  <h1>Two-factor authentication</h1>
  ${state.appName ? html`<p class="muted">to continue to <strong>${state.appName}</strong></p>` : ''}
  ${state.error ? html`<p class="error" role="alert" id="code-error">${state.error}</p>` : ''}
  ${
    code
      ? html`<form method="post" action="${action}">
    <input type="hidden" name="_csrf" value="${state.csrf}">
    <label for="code">Authentication code</label>
    <input type="text" id="code" name="code" autocomplete="one-time-code" required maxlength="32" autofocus aria-describedby="code-hint${state.error ? ' code-error' : ''}">
    <p class="hint" id="code-hint">The 6-digit code from your authenticator app, or one of your recovery codes.</p>
    <div class="actions"><button type="submit">Verify</button></div>
  </form>`
      : ''
  }
  ${
    passkey
      ? html`<form method="post" action="${PATHS.loginVerifyPasskey}" data-passkey="authenticate" data-passkey-options="${PATHS.loginVerifyPasskeyOptions}" hidden>
    <input type="hidden" name="_csrf" value="${state.csrf}">
    <input type="hidden" name="response" value="">
    ${code ? html`<p class="muted">or</p>` : html`<p>Confirm it is you with your passkey.</p>`}
    <div class="actions"><button type="submit"${code ? html` class="secondary"` : ''}>${code ? 'Verify with a passkey' : 'Verify'}</button></div>
    <p class="error" role="alert" data-passkey-status hidden></p>
  </form>
  ${code ? '' : html`<noscript><p class="error">Your passkey needs JavaScript: turn it on for this page to go on.</p></noscript>`}`
      : ''
  }
</div>`,
  };
}

/** The half-session's last code try was wrong: it ended, and only the password starts another. */
export function signInAgainView(): PageOptions {
  return {
    title: 'Two-factor authentication',
    body: html`<div class="card">
  <h1>Two-factor authentication</h1>
  <p class="error" role="alert">Too many wrong codes. For your security this sign-in was ended: sign in with your password again.</p>
  <p><a class="button-link" href="${PATHS.login}">Sign in again</a></p>
</div>`,
  };
}

/** MFA=required: the set-up before a sign-in goes on, then the recovery codes and the way on. */
export function requiredSetupView(action: string, csrf: string, fields: Html): PageOptions {
  return {
    title: 'Set up two-factor authentication',
    passkeys: true,
    body: html`<div class="card">
  <h1>Set up two-factor authentication</h1>
  <p>This server requires a second factor. Set up an authenticator app, or add a passkey, to continue.</p>
  <form method="post" action="${action}">
    <input type="hidden" name="_csrf" value="${csrf}">
    ${fields}
    <div class="actions"><button type="submit">Turn on</button></div>
  </form>
  <form method="post" action="${PATHS.loginTwoFactorPasskey}" data-passkey="register" data-passkey-options="${PATHS.loginTwoFactorPasskeyOptions}" hidden>
    <input type="hidden" name="_csrf" value="${csrf}">
    <input type="hidden" name="response" value="">
    <h2>Or add a passkey</h2>
    <label for="enroll_passkey_name">Passkey name</label>
    <input type="text" id="enroll_passkey_name" name="name" maxlength="${PASSKEY_NAME_MAX}" autocomplete="off" aria-describedby="enroll-passkey-hint">
    <p class="hint" id="enroll-passkey-hint">Optional: so you can tell it apart later, such as “Work laptop” or “Phone”.</p>
    <div class="actions"><button type="submit" class="secondary">Add a passkey</button></div>
    <p class="error" role="alert" data-passkey-status hidden></p>
  </form>
</div>`,
  };
}

export function setupDoneView(codes: readonly string[], next: string): PageOptions {
  return {
    title: 'Two-factor authentication is on',
    body: html`<div class="card"><h1>Two-factor authentication is on</h1>${recoveryCodesBlock(codes)}<p><a class="button-link" href="${next}">Continue</a></p></div>`,
  };
}
