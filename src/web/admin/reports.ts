import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { UsersService } from '../../accounts/users-service.js';
import { searchAudit, type AuditFilter } from '../../audit/search.js';
import { AUDIT_EVENTS, type AuditService } from '../../audit/service.js';
import { PlatformUsageReport } from '../../generation/platform-usage.js';
import type { SigningKeys } from '../../oidc/signing-keys.js';
import { ADMIN } from '../../paths.js';
import type { Storage } from '../../storage/database.js';
import { html } from '../html.js';
import { count, when } from '../dashboard/common.js';
import { actionButton, adminOf, adminPage, nextPage, queryText } from './common.js';

export interface AdminReportsDeps {
  storage: Storage;
  users: UsersService;
  audit: AuditService;
  signingKeys: SigningKeys;
  now: () => number;
}

const AUDIT_PAGE = 100;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A YYYY-MM-DD date of the form as the start of that UTC day, ms; undefined when absent or not a date. */
function dayStart(value: string | undefined): number | undefined {
  if (value === undefined || !DAY.test(value)) return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Usage, Audit and Signing keys (SPEC §12). */
export async function adminReportsPages(scope: FastifyInstance, deps: AdminReportsDeps): Promise<void> {
  const { storage, users, audit, signingKeys, now } = deps;
  const usageReport = new PlatformUsageReport(storage.db, now);

  scope.get(ADMIN.usage, async (request, reply) => {
    const { at, report: usage } = await usageReport.read();
    const totals = (t: { tokens: number; images: number; requests: number }) => html`<td>${count(t.tokens)}</td><td>${count(t.images)}</td><td>${count(t.requests)}</td>`;
    const head = (first: string) => html`<thead><tr><th scope="col">${first}</th><th scope="col">Tokens</th><th scope="col">Images</th><th scope="col">Requests</th></tr></thead>`;
    return adminPage(request, reply, {
      title: 'Usage',
      section: ADMIN.usage,
      body: html`<h1>Usage</h1><p class="muted">Every user and app, the last 30 days (UTC), as of ${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC (figures are recomputed every 5 minutes).</p>
<div class="card table-wrap"><h2>Per day</h2><table>${head('Day')}<tbody>${usage.days.map((d) => html`<tr><td>${d.date}</td>${totals(d)}</tr>`)}</tbody></table></div>
<div class="card table-wrap"><h2>Top apps</h2><table>${head('App')}<tbody>${usage.topApps.map(
        (a) => html`<tr><td><a href="${ADMIN.app.replace(':clientId', encodeURIComponent(a.clientId))}">${a.name ?? a.clientId}</a></td>${totals(a)}</tr>`,
      )}</tbody></table></div>
<div class="card table-wrap"><h2>Top users</h2><table>${head('User')}<tbody>${usage.topUsers.map(
        (u) => html`<tr><td><a href="${ADMIN.user.replace(':id', encodeURIComponent(u.userId))}">${u.username ?? u.userId}</a></td>${totals(u)}</tr>`,
      )}</tbody></table></div>`,
    });
  });

  scope.get(ADMIN.audit, async (request, reply) => {
    const params = { user: queryText(request, 'user', 64), app: queryText(request, 'app', 2100), type: queryText(request, 'type', 64), from: queryText(request, 'from', 10), to: queryText(request, 'to', 10) };
    const filter: AuditFilter = {};
    let unknownUser = false;
    if (params.user !== undefined) {
      const user = await users.findByUsername(params.user);
      if (user) filter.userId = user.id;
      else unknownUser = true;
    }
    if (params.app !== undefined) filter.clientId = params.app;
    if (params.type !== undefined) filter.type = params.type;
    const from = dayStart(params.from);
    const to = dayStart(params.to);
    if (from !== undefined) filter.from = from;
    // The "to" day is included: events before the start of the next one.
    if (to !== undefined) filter.to = to + 86_400_000;
    const page = unknownUser ? { rows: [], hasMore: false } : ((await searchAudit(storage.db, filter, { limit: AUDIT_PAGE, before: queryText(request, 'before', 200) })) ?? { rows: [], hasMore: false });
    const usernames = new Map<string, string>();
    for (const id of new Set(page.rows.flatMap((e) => [e.userId, e.actorId]).filter((id): id is string => id !== null))) {
      const user = await users.findById(id);
      if (user) usernames.set(id, user.username);
    }
    const who = (id: string | null) => (id === null ? '' : (usernames.get(id) ?? id));
    const last = page.rows.at(-1);
    return adminPage(request, reply, {
      title: 'Audit',
      section: ADMIN.audit,
      body: html`<h1>Audit</h1>
<div class="card"><form method="get" action="${ADMIN.audit}" class="search">
<label for="user">User</label><input id="user" name="user" value="${params.user ?? ''}" placeholder="username">
<label for="app">App</label><input id="app" name="app" value="${params.app ?? ''}" placeholder="client_id">
<label for="type">Type</label><select id="type" name="type"><option value="">Any</option>${Object.keys(AUDIT_EVENTS).map((t) => html`<option value="${t}"${t === params.type ? html` selected` : ''}>${t}</option>`)}</select>
<label for="from">From</label><input id="from" name="from" type="date" value="${params.from ?? ''}">
<label for="to">To</label><input id="to" name="to" type="date" value="${params.to ?? ''}">
<button type="submit">Filter</button></form></div>
<div class="card table-wrap"><table class="admin-audit">
<thead><tr><th scope="col">When</th><th scope="col">Type</th><th scope="col">User</th><th scope="col">By</th><th scope="col">App</th><th scope="col">From</th><th scope="col">Detail</th></tr></thead>
<tbody>${page.rows.map(
        (e) => html`<tr data-event="${e.type}"><td>${when(e.createdAt)}</td><td title="${AUDIT_EVENTS[e.type] ?? ''}">${e.type}</td><td>${who(e.userId)}</td><td>${who(e.actorId)}</td><td>${e.clientId ?? ''}</td><td>${e.ip ?? 'the command line'}</td><td><code>${JSON.stringify(e.detail)}</code></td></tr>`,
      )}</tbody></table>
${page.rows.length === 0 ? html`<p class="muted">No events match.</p>` : ''}
${nextPage(ADMIN.audit, params, page.hasMore && last ? { name: 'before', value: last.id } : null)}</div>`,
    });
  });

  const keysPage = async (request: FastifyRequest, reply: Parameters<typeof adminPage>[1], rotated = false) => {
    const keys = await signingKeys.list();
    return adminPage(request, reply, {
      title: 'Signing keys',
      section: ADMIN.signingKeys,
      body: html`<h1>Signing keys</h1>
${rotated ? html`<p role="status">New keys added: published in the JWKS now, signing ID tokens 10 minutes from now.</p>` : ''}
<div class="card table-wrap"><table class="admin-keys">
<thead><tr><th scope="col">kid</th><th scope="col">alg</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Signs from</th><th scope="col">Retired</th></tr></thead>
<tbody>${keys.map((k) => html`<tr><td><code>${k.kid}</code></td><td>${k.alg}</td><td>${k.state}</td><td>${when(k.createdAt)}</td><td>${when(k.activatesAt)}</td><td>${k.retiredAt === null ? '' : when(k.retiredAt)}</td></tr>`)}</tbody></table>
<p class="muted">Rotating adds a key per alg (what <code>npx serika signing-keys rotate</code> does); the old keys stay published until their last ID token expires.</p>
<div class="actions">${actionButton(reply, `${ADMIN.signingKeys}/rotate`, 'Rotate')}</div></div>`,
    });
  };

  scope.get(ADMIN.signingKeys, async (request, reply) => keysPage(request, reply, (request.query as Record<string, unknown>).rotated === '1'));

  scope.post(`${ADMIN.signingKeys}/rotate`, async (request, reply) => {
    const added = await signingKeys.rotate();
    const admin = adminOf(request);
    await audit.record({ type: 'signing_keys.rotated', userId: null, actorId: admin.userId, detail: { kids: added.map((k) => k.kid).join(' ') } }, request);
    return reply.code(303).header('location', `${ADMIN.signingKeys}?rotated=1`).send();
  });
}
