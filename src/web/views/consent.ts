import type { SessionUser } from '../../accounts/sessions.js';
import type { RegisteredClient } from '../../clients/service.js';
import { PATHS } from '../../paths.js';
import { SCOPES, isScope } from '../../scopes.js';
import { html, type Html } from '../html.js';
import type { PageOptions } from '../layout.js';

export interface ConsentView {
  user: SessionUser;
  client: RegisteredClient;
  ownerName: string;
  scopes: string[];
  redirectUri: string;
  requestId: string;
  csrf: string;
}

function destination(uri: string): string {
  try {
    const url = new URL(uri);
    return url.host || url.protocol.replace(/:$/, '');
  } catch {
    return uri;
  }
}

/** The consent page: the app, who registered it, each scope in plain words, Allow and Deny. */
export function consentPage(view: ConsentView): PageOptions {
  const body: Html = html`<div class="card">
  <h1><strong>${view.client.name}</strong> wants to access your Serika account</h1>
  <p class="muted">Registered by <strong>${view.ownerName}</strong></p>
  <p>If you allow it, this app will be able to:</p>
  <ul class="scopes">
    ${view.scopes.map((s) => html`<li><strong>${s}</strong><span class="muted">${isScope(s) ? SCOPES[s] : s}</span></li>`)}
  </ul>
  <p class="hint">You will be sent back to <span class="mono">${destination(view.redirectUri)}</span>. You can revoke access at any time from your dashboard.</p>
  <form method="post" action="${PATHS.authorizeDecision}">
    <input type="hidden" name="_csrf" value="${view.csrf}">
    <input type="hidden" name="request_id" value="${view.requestId}">
    <div class="actions">
      <button type="submit" name="decision" value="allow">Allow</button>
      <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
    </div>
  </form>
</div>`;
  return { title: `Authorize ${view.client.name}`, user: view.user, csrf: view.csrf, body };
}
