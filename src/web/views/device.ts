import type { SessionUser } from '../../accounts/sessions.js';
import { audienceNames } from '../../audiences.js';
import type { DeviceConfirmation } from '../../oauth/device/decision.js';
import { PATHS } from '../../paths.js';
import { SCOPES, isScope } from '../../scopes.js';
import { html } from '../html.js';
import type { PageOptions } from '../layout.js';
import { spendingLimitFieldset } from './spending-limit.js';
import { characterChoiceFieldset, type NamedCharacter } from './character-choice.js';
import { appIdentity } from './app-identity.js';

interface Signed {
  user: SessionUser;
  csrf: string;
}

/** "Connect a device": the code form (RFC 8628 §3.3), with the error of the last attempt or the wait. */
export function deviceCodeForm(view: Signed & { code?: string; error?: string }): PageOptions {
  return {
    title: 'Connect a device',
    user: view.user,
    csrf: view.csrf,
    body: html`<div class="card">
  <h1>Connect a device</h1>
  <p>Enter the code your device (a command-line tool, a TV, an agent) shows you.</p>
  ${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
  <form method="post" action="${PATHS.device}">
    <input type="hidden" name="_csrf" value="${view.csrf}">
    <label for="user_code">Code</label>
    <input type="text" id="user_code" name="user_code" required maxlength="64" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" placeholder="such as WDJB-MJHT" value="${view.code ?? ''}" class="mono code-input">
    <div class="actions"><button type="submit">Continue</button></div>
  </form>
</div>`,
  };
}

export type DeviceConfirmView = Signed & DeviceConfirmation & { operatorName: string; userCharacters: readonly NamedCharacter[] };

/**
 * The confirmation (RFC 8628 §5.4, draft-ietf-oauth-cross-device-security):
 * the app, who stands behind it, what it may do, when and from where the
 * request began, and the warning — with Allow and Deny alike, so neither is
 * the easy click. The decision carries the page's one-time id (SPEC §9).
 */
export function deviceConfirmPage(view: DeviceConfirmView): PageOptions {
  const started = new Date(view.startedAt).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return {
    title: `Connect ${view.client.name}`,
    user: view.user,
    csrf: view.csrf,
    ownImagesOnly: true,
    body: html`<div class="card">
  <h1><strong>${view.client.name}</strong> wants to sign in to your Serika account on a device</h1>
  ${appIdentity(view)}
  <dl class="facts">
    <dt>Code</dt><dd class="mono">${view.code}</dd>
    <dt>Started</dt><dd>${started}${view.startedFrom ? html` from <span class="mono">${view.startedFrom}</span>` : ''}</dd>
    <dt>Reaches</dt><dd>${audienceNames(view.audience).join(' and ')}</dd>
  </dl>
  <p>If you allow it, this device will be able to:</p>
  <ul class="scopes">
    ${view.scopes.map((s) => html`<li><strong>${s}</strong><span class="muted">${isScope(s) ? SCOPES[s] : s}</span></li>`)}
  </ul>
  <p class="notice warning" role="note"><strong>Only continue if you started this yourself on a device you have with you.</strong> Someone who sent you this code could otherwise get into your account.</p>
  <form method="post" action="${PATHS.deviceDecision}">
    <input type="hidden" name="_csrf" value="${view.csrf}">
    <input type="hidden" name="user_code" value="${view.code}">
    <input type="hidden" name="confirmation" value="${view.confirmation}">
    ${view.scopes.includes('characters') ? characterChoiceFieldset({ appName: view.client.name, characters: view.userCharacters, requested: view.requestedCharacters, current: view.currentCharacters }) : ''}
    ${spendingLimitFieldset({ appName: view.client.name, requested: view.requestedBudget, current: view.currentBudget })}
    <div class="actions equal">
      <button type="submit" name="decision" value="allow">Allow</button>
      <button type="submit" name="decision" value="deny">Deny</button>
    </div>
  </form>
</div>`,
  };
}

export function deviceDonePage(view: Signed & { allowed: boolean; clientName: string }): PageOptions {
  return {
    title: view.allowed ? 'Device connected' : 'Device denied',
    user: view.user,
    csrf: view.csrf,
    body: view.allowed
      ? html`<div class="card"><h1>Device connected</h1><p><strong>${view.clientName}</strong> is signed in. You can return to your device and close this page.</p></div>`
      : html`<div class="card"><h1>Request denied</h1><p><strong>${view.clientName}</strong> was not given access. You can close this page.</p></div>`,
  };
}
