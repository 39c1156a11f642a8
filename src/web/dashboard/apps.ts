import type { FastifyInstance } from 'fastify';
import type { GrantsService } from '../../consent/grants.js';
import type { UsageService } from '../../generation/usage.js';
import type { OAuthStore } from '../../oauth/store.js';
import { isScope, SCOPES } from '../../scopes.js';
import { html } from '../html.js';
import { confirmPage, dashboardPage, plural, userOf, when } from './common.js';
import { DASHBOARD, MCP_PATH } from '../../paths.js';
import { audienceNames } from '../../audiences.js';

/** A client_id may be a metadata document's URL: one path segment all the same. */
const appPath = (clientId: string, action: string) => `${DASHBOARD.apps}/${encodeURIComponent(clientId)}/${action}`;

/** Connected apps: what the user has authorized, its use, and "Revoke access". */
export async function appsPages(scope: FastifyInstance, deps: { grants: GrantsService; usage: UsageService; oauth: OAuthStore }): Promise<void> {
  const { grants, usage, oauth } = deps;

  scope.get(DASHBOARD.apps, async (request, reply) => {
    const userId = userOf(request).userId;
    const apps = await grants.listForUser(userId);
    const totals = await usage.totalsByApp(userId);
    const rows = await Promise.all(
      apps.map(async (app) => {
        const use = totals.get(app.clientId);
        const tokens = await oauth.lastIssued(userId, app.clientId);
        const lastUsed = Math.max(use?.lastUsedAt ?? 0, tokens ?? 0) || null;
        return { app, use, lastUsed };
      }),
    );
    return dashboardPage(request, reply, {
      title: 'Connected apps',
      section: DASHBOARD.apps,
      body: html`<h1>Connected apps</h1>
<p class="muted">Apps you have allowed to act for you. Revoking access ends their tokens at once; they must ask you again.</p>
${
  rows.length === 0
    ? html`<div class="card"><p class="muted">You have not authorized any app.</p></div>`
    : rows.map(
        ({ app, use, lastUsed }) => html`<div class="card app" data-client-id="${app.clientId}">
  <h2>${app.clientName}${app.unverified ? html` <span class="badge warning" title="It registered itself; Serika has not verified who made it.">Unverified</span>` : ''}${
    app.audience.length === 1 && app.audience[0] === MCP_PATH ? html` <span class="badge">via MCP</span>` : ''
  }${app.deviceAt !== null ? html` <span class="badge">signed in from a device</span>` : ''}</h2>
  <dl class="facts">
    <dt>Reaches</dt><dd>${audienceNames(app.audience).join(' and ')}</dd>
    <dt>Can</dt><dd><ul class="plain">${app.scopes.map((s) => html`<li><strong>${s}</strong> <span class="muted">${isScope(s) ? SCOPES[s] : ''}</span></li>`)}</ul></dd>
    <dt>Granted</dt><dd>${when(app.createdAt)}</dd>
    <dt>Last used</dt><dd>${when(lastUsed)}</dd>
    <dt>Last 30 days</dt><dd>${use ? `${plural(use.promptTokens + use.completionTokens, 'token')} · ${plural(use.images, 'image')} · ${plural(use.requests, 'request')}` : 'no generations'}</dd>
  </dl>
  <div class="actions"><a class="button-link danger" href="${appPath(app.clientId, 'revoke')}">Revoke access</a></div>
</div>`,
      )
}`,
    });
  });

  scope.get<{ Params: { clientId: string } }>(`${DASHBOARD.apps}/:clientId/revoke`, async (request, reply) => {
    const app = (await grants.listForUser(userOf(request).userId)).find((a) => a.clientId === request.params.clientId);
    if (!app) return reply.code(303).header('location', DASHBOARD.apps).send();
    return confirmPage(request, reply, {
      section: DASHBOARD.apps,
      title: 'Revoke access',
      message: html`<p>Revoke the access of <strong>${app.clientName}</strong>? Its access and refresh tokens stop working at once, and it must ask for your consent again.</p>`,
      action: appPath(app.clientId, 'revoke'),
      button: 'Revoke access',
      back: DASHBOARD.apps,
    });
  });

  scope.post<{ Params: { clientId: string } }>(`${DASHBOARD.apps}/:clientId/revoke`, async (request, reply) => {
    await grants.revokeAccess(userOf(request).userId, request.params.clientId);
    return reply.code(303).header('location', DASHBOARD.apps).send();
  });

}
