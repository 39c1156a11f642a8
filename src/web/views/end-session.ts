import type { SessionUser } from '../../accounts/sessions.js';
import { redirectUriHost } from '../../clients/redirect-uris.js';
import { PATHS } from '../../paths.js';
import { html } from '../html.js';
import type { PageOptions } from '../layout.js';

export interface EndSessionView {
  user: SessionUser;
  csrf: string;
  clientName: string | null;
  /** Carried through the confirmation: client_id, post_logout_redirect_uri, state. */
  carry: Record<string, string>;
}

/** "Sign out of Serika?" (RP-Initiated Logout 1.0 §2): the user confirms with a CSRF-protected POST. */
export function confirmSignOutView(view: EndSessionView): PageOptions {
  return {
    title: 'Sign out',
    user: view.user,
    csrf: view.csrf,
    signOutButton: false,
    body: html`<div class="card">
  <h1>Sign out of Serika?</h1>
  <p>${view.clientName ? html`<strong>${view.clientName}</strong> asks to sign you out. ` : ''}You are signed in as <strong>${view.user.username}</strong>.</p>
  <form method="post" action="${PATHS.endSession}">
    <input type="hidden" name="_csrf" value="${view.csrf}">
    ${Object.entries(view.carry).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
    <div class="actions">
      <button type="submit" name="confirm" value="yes">Sign out</button>
      <button type="submit" name="confirm" value="no" class="secondary">Stay signed in</button>
    </div>
  </form>
</div>`,
  };
}

/** returnTo: the app's registered post-logout URI (with its state), offered as a link, not followed (SPEC §7). */
export function signedOutView(returnTo?: string): PageOptions {
  return {
    title: 'Signed out',
    body: html`<div class="card"><h1>You are signed out</h1>${returnTo === undefined ? '' : html`<p><a href="${returnTo}">Return to ${redirectUriHost(returnTo)}</a></p>`}<p>You can close this window, or <a href="${PATHS.login}">sign in again</a>.</p></div>`,
  };
}
