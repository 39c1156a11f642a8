import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { html } from '../html.js';
import { accountPages } from './account.js';
import { activityPages } from './activity.js';
import { appsPages } from './apps.js';
import { charactersPages } from './characters.js';
import { clientsPages } from './clients.js';
import { clientEventsPages } from './client-events.js';
import { dashboardPage, guardDashboard, userOf } from './common.js';
import { devicesPages } from './devices.js';
import { keysPages } from './keys.js';
import { usagePages } from './usage.js';
import { twoFactorPages } from './two-factor.js';
import { passkeysPages } from './passkeys.js';
import { DASHBOARD } from '../../paths.js';
import { takeMailAllowance } from '../../mail/allowance.js';

/** The dashboard: every section, behind one session guard (registered as its own encapsulated plugin). */
export async function dashboardRoutes(scope: FastifyInstance, s: Services): Promise<void> {
  guardDashboard(scope, scope.pageSessions);

  scope.get(DASHBOARD.overview, async (request, reply) => {
    const userId = userOf(request).userId;
    const [keys, clients, apps, characters] = await Promise.all([s.apiKeys.list(userId), s.clients.list(userId), s.grants.listForUser(userId), s.characters.list({ userId })]);
    const card = (href: string, title: string, count: number, what: string) =>
      html`<a class="card tile" href="${href}"><strong>${title}</strong><span class="count">${count}</span><span class="muted">${what}</span></a>`;
    return dashboardPage(request, reply, {
      title: 'Dashboard',
      section: DASHBOARD.overview,
      body: html`<h1>Dashboard</h1>
<p>You are signed in as <strong>${userOf(request).username}</strong>.</p>
<div class="tiles">
  ${card(DASHBOARD.keys, 'API keys', keys.filter((k) => k.revokedAt === null).length, 'active')}
  ${card(DASHBOARD.clients, 'OAuth clients', clients.length, 'registered')}
  ${card(DASHBOARD.apps, 'Connected apps', apps.length, 'authorized')}
  ${card(DASHBOARD.characters, 'Characters', characters.length, 'created')}
</div>`,
    });
  });

  await keysPages(scope, s.apiKeys);
  await clientsPages(scope, { clients: s.clients, grants: s.grants, config: s.config, events: s.events, clientErrors: s.clientErrors });
  await clientEventsPages(scope, { clients: s.clients, events: s.events });
  await appsPages(scope, { grants: s.grants, usage: s.usage, oauth: s.oauth, budgets: s.budgets, audit: s.audit, characters: s.characters });
  await charactersPages(scope, s.characters);
  await usagePages(scope, { usage: s.usage, now: s.now });
  await activityPages(scope, { audit: s.audit, appName: async (clientId) => (await s.clients.findRegistered(clientId))?.name ?? null });
  await accountPages(scope, {
    users: s.users,
    sessions: s.sessions,
    pendingSignIns: s.pendingSignIns,
    throttle: s.throttle,
    secondFactors: s.secondFactors,
    passkeys: s.passkeys,
    emailVerification: s.emailVerification,
    mailAllowance: (userId) => takeMailAllowance(s.rateCounter, s.config.rateLimitMail, `mail:user:${userId}`),
  });
  await devicesPages(scope);
  await twoFactorPages(scope, { secondFactors: s.secondFactors, users: s.users, secondStep: scope.secondStep, throttle: s.throttle, audit: s.audit, issuer: s.config.publicUrl });
  await passkeysPages(scope, { passkeys: s.passkeys, secondFactors: s.secondFactors, users: s.users, secondStep: scope.secondStep, throttle: s.throttle, audit: s.audit });
}
