import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuditService } from '../../audit/service.js';
import type { BudgetsService } from '../../consent/budgets.js';
import type { LiveAgentToken } from '../../oauth/store/agent-tokens.js';
import type { OAuthStore } from '../../oauth/store/store.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { csrfField, plural, userOf, when } from './common.js';

/** A sub-agent token's own path: its stored key (a hash, never the token) in one path segment. */
const agentPath = (clientId: string, tokenHash: string) => `${DASHBOARD.apps}/${encodeURIComponent(clientId)}/agents/${encodeURIComponent(tokenHash)}/revoke`;

/** The live sub-agent tokens of each app, with what each spent (SPEC §15: name, scope, spend). */
export async function liveAgents(oauth: OAuthStore, budgets: BudgetsService, userId: string) {
  const agents = await oauth.agents.live(userId);
  const spent = await budgets.agentStates(agents.map((a) => a.tokenHash));
  const byApp = new Map<string, Array<LiveAgentToken & { tokens: number; images: number; tokensLimit: number | null; imagesLimit: number | null }>>();
  for (const agent of agents) {
    const state = spent.get(agent.tokenHash);
    const list = byApp.get(agent.clientId) ?? [];
    list.push({ ...agent, tokens: state?.tokensUsed ?? 0, images: state?.imagesUsed ?? 0, tokensLimit: state?.tokens ?? null, imagesLimit: state?.images ?? null });
    byApp.set(agent.clientId, list);
  }
  return byApp;
}

type AgentRow = NonNullable<ReturnType<Awaited<ReturnType<typeof liveAgents>>['get']>>[number];

/** The card's "Sub-agents" list, each with a Revoke button (a POST with the CSRF field, as the card's other actions). */
export function agentsView(reply: FastifyReply, clientId: string, agents: AgentRow[] | undefined): Html | string {
  if (!agents?.length) return '';
  const cap = (used: number, limit: number | null, what: string) => (limit === null ? plural(used, what.slice(0, -1)) : `${used.toLocaleString('en-US')} / ${limit.toLocaleString('en-US')} ${what}`);
  return html`<details class="agents" open><summary>Sub-agents (${agents.length})</summary>
  <p class="hint">Tokens the app gave to agents it started (RFC 8693). Revoking one ends the agents below it too.</p>
  <ul class="plain">${agents.map(
    (a) => html`<li class="agent" data-agent="${a.agentName ?? ''}"><strong>${a.agentName ?? 'Unnamed agent'}</strong>${a.depth > 1 ? html` <span class="badge">level ${a.depth}</span>` : ''}
    <span class="muted">${a.scopes} · ${cap(a.tokens, a.tokensLimit, 'tokens')} · ${cap(a.images, a.imagesLimit, 'images')} · until ${when(a.expiresAt)}</span>
    <form method="post" action="${agentPath(clientId, a.tokenHash)}" class="inline">${csrfField(reply)}<button type="submit" class="danger">Revoke</button></form></li>`,
  )}</ul>
</details>`;
}

/** POST …/agents/:token/revoke: ends that sub-agent token and every one below it, if it is the user's and live. */
export async function agentRevokeRoute(scope: FastifyInstance, deps: { oauth: OAuthStore; audit: AuditService }): Promise<void> {
  scope.post<{ Params: { clientId: string; tokenHash: string } }>(`${DASHBOARD.apps}/:clientId/agents/:tokenHash/revoke`, async (request, reply) => {
    const userId = userOf(request).userId;
    const { clientId, tokenHash } = request.params;
    const agent = (await deps.oauth.agents.live(userId)).find((a) => a.tokenHash === tokenHash && a.clientId === clientId);
    if (agent) {
      const revoked = await deps.oauth.revocation.token(tokenHash);
      if (revoked > 0) await deps.audit.record({ type: 'agent_token.revoked', userId, clientId, detail: { agentName: agent.agentName, tokensRevoked: revoked } }, request);
    }
    return reply.code(303).header('location', DASHBOARD.apps).send();
  });
}
