import type { FastifyInstance, FastifyReply } from 'fastify';
import type { GrantsService } from '../../consent/grants.js';
import type { UsageService } from '../../generation/usage.js';
import type { OAuthStore } from '../../oauth/store/store.js';
import { isScope, SCOPES } from '../../scopes.js';
import { html, type Html } from '../html.js';
import type { BudgetState, BudgetsService } from '../../consent/budgets.js';
import { readSpendingLimit, spendingLimitFieldset } from '../views/spending-limit.js';
import { confirmPage, csrfField, dashboardPage, plural, userOf, when } from './common.js';
import { DASHBOARD, MCP_PATH } from '../../paths.js';
import { audienceNames } from '../../audiences.js';
import type { AuditService } from '../../audit/service.js';
import { agentRevokeRoute, agentsView, liveAgents } from './agents.js';
import type { CharactersService } from '../../resources/characters/service.js';
import type { CharacterChoice } from '../../consent/character-choice.js';
import { characterChoiceFieldset, readCharacterChoice, type NamedCharacter } from '../views/character-choice.js';

/** A client_id may be a metadata document's URL: one path segment all the same. */
const appPath = (clientId: string, action: string) => `${DASHBOARD.apps}/${encodeURIComponent(clientId)}/${action}`;

/** Connected apps: what the user has authorized, its use, and "Revoke access". */
/** Spent / limit with a bar and the reset date (SPEC §10). */
function spendingView(budget: BudgetState | null): Html {
  if (!budget) return html`<p class="muted">No spending limit.</p>`;
  const line = (what: string, limit: number | null, used: number) =>
    limit === null
      ? ''
      : html`<div class="spend"><span>${used.toLocaleString('en-US')} / ${limit.toLocaleString('en-US')} ${what}</span><progress max="${Math.max(limit, 1)}" value="${Math.min(used, limit)}" aria-label="${what} spent"></progress></div>`;
  return html`${line('tokens', budget.tokens, budget.tokensUsed)}${line('images', budget.images, budget.imagesUsed)}
  <p class="hint">${budget.resetsAt === null ? 'In total; never resets.' : `Resets ${new Date(budget.resetsAt).toISOString().slice(0, 10)} (UTC).`}</p>`;
}

/** Which characters the app sees (SPEC §15), and the form that changes it. */
function charactersView(reply: FastifyReply, app: { clientId: string; clientName: string; characters: CharacterChoice }, characters: readonly NamedCharacter[], card: number): Html {
  const names = app.characters === null ? null : characters.filter((c) => app.characters!.includes(c.id)).map((c) => c.name);
  return html`<details class="characters"><summary>Characters</summary>
    <p class="muted">${names === null ? 'Sees all your characters, including new ones.' : names.length === 0 ? 'Sees none of your characters.' : `Sees only: ${names.join(', ')}.`}</p>
    <form method="post" action="${appPath(app.clientId, 'characters')}">${csrfField(reply)}
      ${characterChoiceFieldset({ appName: app.clientName, characters, requested: null, current: app.characters, idPrefix: `app${card}-` })}
      <div class="actions"><button type="submit">Save characters</button></div>
    </form>
  </details>`;
}

export async function appsPages(scope: FastifyInstance, deps: { grants: GrantsService; usage: UsageService; oauth: OAuthStore; budgets: BudgetsService; audit: AuditService; characters: CharactersService }): Promise<void> {
  const { grants, usage, oauth, budgets } = deps;

  scope.get(DASHBOARD.apps, async (request, reply) => {
    const userId = userOf(request).userId;
    const apps = await grants.listForUser(userId);
    const totals = await usage.totalsByApp(userId);
    const agents = await liveAgents(oauth, budgets, userId);
    const characters = apps.some((a) => a.scopes.includes('characters')) ? await deps.characters.list({ userId }) : [];
    const rows = await Promise.all(
      apps.map(async (app) => {
        const use = totals.get(app.clientId);
        const tokens = await oauth.tokens.lastIssued(userId, app.clientId);
        const lastUsed = Math.max(use?.lastUsedAt ?? 0, tokens ?? 0) || null;
        return { app, use, lastUsed, budget: await budgets.get(userId, app.clientId) };
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
        ({ app, use, lastUsed, budget }, card) => html`<div class="card app" data-client-id="${app.clientId}">
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
  <details class="spending"><summary>Spending limit</summary>
    ${spendingView(budget)}
    <form method="post" action="${appPath(app.clientId, 'budget')}">${csrfField(reply)}
      ${spendingLimitFieldset({ appName: app.clientName, requested: null, current: budget })}
      <div class="actions"><button type="submit">Save limit</button></div>
    </form>
  </details>
  ${app.scopes.includes('characters') ? charactersView(reply, app, characters, card) : ''}
  ${agentsView(reply, app.clientId, agents.get(app.clientId))}
  <div class="actions"><a class="button-link danger" href="${appPath(app.clientId, 'revoke')}">Revoke access</a></div>
</div>`,
      )
}`,
    });
  });

  // Set, change or remove the limit (SPEC §10): it applies from the next call.
  scope.post<{ Params: { clientId: string } }>(`${DASHBOARD.apps}/:clientId/budget`, async (request, reply) => {
    const userId = userOf(request).userId;
    if (!(await grants.find(userId, request.params.clientId))) return reply.code(303).header('location', DASHBOARD.apps).send();
    const limit = readSpendingLimit(request.body);
    if (limit !== undefined) await budgets.set(userId, request.params.clientId, limit, undefined, request);
    return reply.code(303).header('location', DASHBOARD.apps).send();
  });

  // Change which characters the app sees (SPEC §15): every instance obeys from the next call (GrantsService.setCharacters).
  scope.post<{ Params: { clientId: string } }>(`${DASHBOARD.apps}/:clientId/characters`, async (request, reply) => {
    const userId = userOf(request).userId;
    const owned = (await deps.characters.list({ userId })).map((c) => c.id);
    const choice = readCharacterChoice(request.body, owned);
    if (choice !== undefined) await grants.setCharacters(userId, request.params.clientId, choice, undefined, request);
    return reply.code(303).header('location', DASHBOARD.apps).send();
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
    await grants.revokeAccess(userOf(request).userId, request.params.clientId, request);
    return reply.code(303).header('location', DASHBOARD.apps).send();
  });

  await agentRevokeRoute(scope, { oauth, audit: deps.audit });
}
