import type { FastifyInstance } from 'fastify';
import { AUDIT_EVENTS, type AuditService } from '../../audit/service.js';
import { DASHBOARD } from '../../paths.js';
import { html } from '../html.js';
import { dashboardPage, userOf, when } from './common.js';

/** Activity: the security events of the user's own account, newest first. */
export async function activityPages(scope: FastifyInstance, deps: { audit: AuditService; appName: (clientId: string) => Promise<string | null> }): Promise<void> {
  scope.get(DASHBOARD.activity, async (request, reply) => {
    const events = await deps.audit.listForUser(userOf(request).userId);
    const names = new Map<string, string | null>();
    for (const id of new Set(events.map((e) => e.clientId).filter((id): id is string => id !== null))) names.set(id, await deps.appName(id));
    return dashboardPage(request, reply, {
      title: 'Activity',
      section: DASHBOARD.activity,
      body: html`<h1>Activity</h1>
<p class="muted">Security events of your account: sign-in slowdowns, password and key changes, revoked apps, and tokens Serika revoked because they were replayed. The last 100, newest first.</p>
${
  events.length === 0
    ? html`<div class="card"><p class="muted">Nothing yet.</p></div>`
    : html`<div class="card"><table class="activity">
  <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">App</th><th scope="col">From</th></tr></thead>
  <tbody>${events.map(
    (e) => html`<tr data-event="${e.type}"><td>${when(e.createdAt)}</td><td>${AUDIT_EVENTS[e.type] ?? e.type}${e.detail.prefix ? html` <code>${String(e.detail.prefix)}</code>` : ''}</td><td>${e.clientId ? (names.get(e.clientId) ?? e.clientId) : ''}</td><td>${e.ip ?? 'the command line'}</td></tr>`,
  )}</tbody>
</table></div>`
}`,
    });
  });
}
