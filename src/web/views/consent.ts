import type { SessionUser } from '../../accounts/sessions.js';
import type { AuthorizeOutcome } from '../../oauth/authorize/outcome.js';
import { PATHS } from '../../paths.js';
import { SCOPES, isScope } from '../../scopes.js';
import { audienceNames } from '../../audiences.js';
import { spendingLimitFieldset } from './spending-limit.js';
import { characterChoiceFieldset, type NamedCharacter } from './character-choice.js';
import { redirectUriHost as destination } from '../../clients/redirect-uris.js';
import { html, type Html } from '../html.js';
import type { PageOptions } from '../layout.js';
import { appIdentity } from './app-identity.js';

/** What the authorization endpoint decided to ask, and who is asked. */
export type ConsentView = Omit<Extract<AuthorizeOutcome, { kind: 'consent' }>, 'kind'> & {
  user: SessionUser;
  csrf: string;
  /** OPERATOR_NAME (SPEC §12). */
  operatorName: string;
  /** The user's characters, for "Which characters may <App> see?" (with the characters scope, SPEC §15). */
  userCharacters: readonly NamedCharacter[];
};

/** The consent page: the app, who registered it, each scope in plain words, what it will reach, Allow and Deny. */
export function consentPage(view: ConsentView): PageOptions {
  const body: Html = html`<div class="card">
  <h1><strong>${view.client.name}</strong> wants to access your Serika account</h1>
  ${appIdentity(view)}
  <p>If you allow it, this app will be able to:</p>
  <ul class="scopes">
    ${view.scopes.map((s) => html`<li><strong>${s}</strong><span class="muted">${isScope(s) ? SCOPES[s] : s}</span></li>`)}
  </ul>
  <p>It will reach: <strong>${audienceNames(view.audience).join(' and ')}</strong>.</p>
  <form method="post" action="${PATHS.authorizeDecision}">
    <input type="hidden" name="_csrf" value="${view.csrf}">
    <input type="hidden" name="request_id" value="${view.requestId}">
    ${view.scopes.includes('characters') ? characterChoiceFieldset({ appName: view.client.name, characters: view.userCharacters, requested: view.requestedCharacters, current: view.currentCharacters }) : ''}
    ${spendingLimitFieldset({ appName: view.client.name, requested: view.requestedBudget, current: view.currentBudget })}
    <p class="hint">You will be sent back to <span class="mono">${destination(view.redirectUri)}</span>. You can revoke access at any time from your dashboard.</p>
    <div class="actions">
      <button type="submit" name="decision" value="allow">Allow</button>
      <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
    </div>
  </form>
</div>`;
  return { title: `Authorize ${view.client.name}`, user: view.user, csrf: view.csrf, body, ownImagesOnly: true };
}
