import type { FastifyInstance } from 'fastify';
import { searchClients } from '../../clients/admin-list.js';
import type { ClientTrust } from '../../clients/client-trust.js';
import { notFound } from '../../errors.js';
import { ADMIN } from '../../paths.js';
import type { Storage } from '../../storage/database.js';
import { html } from '../html.js';
import { when } from '../dashboard/common.js';
import { actionButton, adminOf, adminPage, nextPage, queryText, searchForm } from './common.js';

const PAGE = 50;
const appPath = (id: string) => ADMIN.app.replace(':clientId', encodeURIComponent(id));
const userPath = (id: string) => ADMIN.user.replace(':id', encodeURIComponent(id));

/** Apps (SPEC §12): search, owner, users, and an app's page with the operator's Verify and Suspend buttons. */
export async function adminAppsPages(scope: FastifyInstance, deps: { storage: Storage; clientTrust: ClientTrust }): Promise<void> {
  const { db, dialect } = deps.storage;
  const { clientTrust } = deps;

  scope.get(ADMIN.apps, async (request, reply) => {
    const q = queryText(request, 'q') ?? '';
    const after = queryText(request, 'after', 2100);
    const page = (await searchClients(db, dialect, q, { limit: PAGE, after })) ?? { rows: [], hasMore: false };
    const last = page.rows.at(-1);
    return adminPage(request, reply, {
      title: 'Apps',
      section: ADMIN.apps,
      body: html`<h1>Apps</h1>
<div class="card">${searchForm(ADMIN.apps, q, 'Name starts with, or client_id')}</div>
<div class="card table-wrap"><table class="admin-apps">
<thead><tr><th scope="col">Name</th><th scope="col">Owner</th><th scope="col">Users</th><th scope="col">Created</th></tr></thead>
<tbody>${page.rows.map(
        (c) => html`<tr data-app="${c.clientId}"><td><a href="${appPath(c.clientId)}">${c.name}</a></td><td>${c.ownerId ? html`<a href="${userPath(c.ownerId)}">${c.ownerUsername ?? c.ownerId}</a>` : 'Self-registered'}</td><td>${c.users}</td><td>${when(Date.parse(c.createdAt))}</td></tr>`,
      )}</tbody></table>
${page.rows.length === 0 ? html`<p class="muted">No apps match.</p>` : ''}
${nextPage(ADMIN.apps, { q }, page.hasMore && last ? { name: 'after', value: last.clientId } : null)}</div>`,
    });
  });

  scope.get(ADMIN.app, async (request, reply) => {
    const clientId = (request.params as { clientId: string }).clientId;
    // A client_id (ours, or a metadata document's URL) finds that one app; anything else is no app.
    const app = (await searchClients(db, dialect, clientId, { limit: 1 }))?.rows[0];
    if (!app || app.clientId !== clientId) throw notFound('app');
    const base = appPath(clientId);
    return adminPage(request, reply, {
      title: app.name,
      section: ADMIN.apps,
      body: html`<h1>${app.name}</h1>
<div class="card"><dl>
<dt>client_id</dt><dd><code>${app.clientId}</code></dd>
<dt>Owner</dt><dd>${app.ownerId ? html`<a href="${userPath(app.ownerId)}">${app.ownerUsername ?? app.ownerId}</a>` : 'Self-registered'}</dd>
<dt>Users</dt><dd>${app.users}</dd>
<dt>Type</dt><dd>${app.public ? 'public (PKCE only)' : 'confidential'}</dd>
<dt>Scopes</dt><dd>${app.scopes.join(' ')}</dd>
<dt>Redirect URIs</dt><dd>${app.redirectUris.map((u) => html`<code>${u}</code> `)}</dd>
<dt>Grant types</dt><dd>${app.grantTypes.join(', ')}</dd>
<dt>Verified</dt><dd>${app.verified ? 'yes' : 'no'}</dd>
<dt>Suspended</dt><dd>${app.suspended ? 'yes' : 'no'}</dd>
<dt>Created</dt><dd>${when(Date.parse(app.createdAt))}</dd></dl>
<div class="actions">
${app.verified ? actionButton(reply, `${base}/unverify`, 'Unverify') : actionButton(reply, `${base}/verify`, 'Verify')}
${app.suspended ? actionButton(reply, `${base}/unsuspend`, 'Unsuspend') : actionButton(reply, `${base}/suspend`, 'Suspend', true)}
</div></div>`,
    });
  });

  // Each decision goes through ClientTrust with the admin as actor (an audit event), then back to the app's page.
  for (const decision of ['verify', 'unverify', 'suspend', 'unsuspend'] as const) {
    scope.post(`${ADMIN.app}/${decision}`, async (request, reply) => {
      const clientId = (request.params as { clientId: string }).clientId;
      await clientTrust[decision](clientId, adminOf(request).userId, request);
      return reply.code(303).header('location', appPath(clientId)).send();
    });
  }
}
