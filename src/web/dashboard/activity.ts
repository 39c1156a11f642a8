import type { FastifyInstance } from 'fastify';
import { AUDIT_EVENTS, type AuditService, type StoredAuditEvent } from '../../audit/service.js';
import type { BudgetLimit, BudgetPeriod } from '../../consent/budget-rules.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { describeLimit } from '../views/spending-limit.js';
import { dashboardPage, userOf, when } from './common.js';

/** A budget.changed side (fromTokens, fromImages, fromPeriod) in words. */
function limitOf(detail: StoredAuditEvent['detail'], side: 'from' | 'to'): string {
  const period = detail[`${side}Period`];
  if (typeof period !== 'string') return 'no limit';
  const amount = (v: unknown) => (typeof v === 'number' ? v : null);
  const limit: BudgetLimit = { tokens: amount(detail[`${side}Tokens`]), images: amount(detail[`${side}Images`]), period: period as BudgetPeriod };
  return describeLimit(limit);
}

const SIGN_IN_FACTORS: Record<string, string> = { recovery_code: ' with a recovery code', totp: ' with an authenticator app code', passkey: ' with a passkey' };

/** What an event's detail adds to its description on the page. */
function specifics(e: StoredAuditEvent): Html | string {
  const d = e.detail;
  if (e.type === 'session.ended' && d.prefix) {
    return html`: <code>${String(d.prefix)}</code> (${String(d.browser)})${d.by === d.prefix ? '' : d.by ? html`, from <code>${String(d.by)}</code>` : ''}`;
  }
  if (d.prefix) return html` <code>${String(d.prefix)}</code>`;
  if (e.type === 'sign_in.failed') {
    return d.factor === 'passkey' ? ': passkey refused' : d.factor === 'recovery_code' ? ': wrong recovery code' : d.factor ? ': wrong authentication code' : ': wrong password';
  }
  if (e.type === 'second_factor.remove_refused' || e.type === 'second_factor.add_refused') return d.factor === 'password' ? ': wrong password' : ': wrong code';
  if (e.type === 'sign_in.succeeded' && d.factor) return SIGN_IN_FACTORS[String(d.factor)] ?? '';
  if ((e.type === 'second_factor.added' || e.type === 'second_factor.removed') && d.factor) {
    return d.factor === 'passkey' ? html`: passkey “${String(d.name)}”` : ': authenticator app';
  }
  if (e.type === 'sign_in.throttled' && d.factor) return ' (authentication codes)';
  if (e.type === 'recovery_code.used' && typeof d.left === 'number') return ` (${d.left} left)`;
  if (e.type === 'budget.changed') return `: from ${limitOf(d, 'from')} to ${limitOf(d, 'to')}`;
  if (e.type === 'token.revoked') return ` (${String(d.tokenType).replace('_', ' ')})`;
  if (e.type === 'client.redirect_uris_changed') {
    const list = (label: string, uris: unknown) => (typeof uris === 'string' && uris !== '' ? html`<br>${label}: ${uris.split(' ').map((u) => html`<code>${u}</code> `)}` : '');
    return html`${d.list === 'postLogoutRedirectUris' ? ' (post-logout)' : ''}${list('added', d.added)}${list('removed', d.removed)}`;
  }
  return '';
}

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
<p class="muted">Security events of your account: sign-ins and failed ones, password and key changes, your OAuth clients and their redirect URIs, spending limits, revoked apps and tokens, and tokens Serika revoked because they were replayed. The last 100, newest first.</p>
${
  events.length === 0
    ? html`<div class="card"><p class="muted">Nothing yet.</p></div>`
    : html`<div class="card"><table class="activity">
  <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">App</th><th scope="col">From</th></tr></thead>
  <tbody>${events.map(
    (e) => html`<tr data-event="${e.type}"><td>${when(e.createdAt)}</td><td>${AUDIT_EVENTS[e.type] ?? e.type}${specifics(e)}</td><td>${e.clientId ? (names.get(e.clientId) ?? (typeof e.detail.name === 'string' ? e.detail.name : e.clientId)) : ''}</td><td>${e.ip ?? 'the command line'}</td></tr>`,
  )}</tbody>
</table></div>`
}`,
    });
  });
}
