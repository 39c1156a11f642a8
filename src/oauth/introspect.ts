import type { FastifyInstance } from 'fastify';
import { OAuthError } from './protocol/errors.js';
import type { TokenEndpointsDeps } from './revoke.js';
import { tokenParams } from './revoke.js';
import { API } from '../paths.js';
import { audienceUris, parseAudience } from '../audiences.js';
import { grantedDetailsOf } from '../consent/authorization-details.js';
import type { BudgetLimit } from '../consent/budget-rules.js';
import type { BudgetState, BudgetsService } from '../consent/budgets.js';
import { parseScopes } from '../scopes.js';
import { tokenCharacters, type TokenWithUser } from './store/token-lookup.js';

const INACTIVE = { active: false } as const;

const remainingOf = (budget: BudgetState) => ({ tokens: budget.tokensRemaining, images: budget.imagesRemaining, resets_at: budget.resetsAt === null ? null : Math.floor(budget.resetsAt / 1000) });

/**
 * RFC 9396 §7 details as introspection carries them: the budget (SPEC §10) and, for a token with the characters
 * scope, the characters it may see when they are only some (SPEC §15: its grant's, narrowed by a sub-agent's own).
 */
function detailsFields(row: TokenWithUser, budget: BudgetLimit | null): Record<string, unknown> {
  const details = grantedDetailsOf(budget, parseScopes(row.scopes).includes('characters') ? tokenCharacters(row) : null);
  return details ? { authorization_details: details } : {};
}

/** SPEC §10: the grant's budget as RFC 9396 details, and what remains of it. */
async function budgetFields(budgets: BudgetsService, row: TokenWithUser): Promise<Record<string, unknown>> {
  const budget = await budgets.get(row.user_id, row.client_id);
  return { ...detailsFields(row, budget), ...(budget ? { budget_remaining: remainingOf(budget) } : {}) };
}

/**
 * SPEC §15, a sub-agent token: RFC 8693 §4.1's act (nested per level), its own cap as RFC 9396 details (or the
 * grant's budget when it has none of its own), and what remains for it: the tightest of its caps and the grant's.
 */
async function agentFields(budgets: BudgetsService, row: TokenWithUser): Promise<Record<string, unknown>> {
  const lineage = row.agent_lineage!.split(' ');
  const [own, state] = await Promise.all([budgets.agentStates([lineage[0]!]), budgets.lineageState(row.user_id, row.client_id, lineage)]);
  const cap = own.get(lineage[0]!);
  const capped = cap && (cap.tokens !== null || cap.images !== null) ? cap : await budgets.get(row.user_id, row.client_id);
  const limited = state.tokensRemaining !== null || state.imagesRemaining !== null;
  return {
    act: JSON.parse(row.agent_act!) as unknown,
    ...detailsFields(row, capped ?? null),
    ...(limited ? { budget_remaining: remainingOf(state) } : {}),
  };
}

/**
 * POST /oauth/introspect (RFC 7662), for confidential clients only (IN-01).
 * Anything not live, or not the caller's, is `{"active":false}` and nothing
 * more (§2.2, IN-02, IN-03).
 */
export async function introspectRoute(scope: FastifyInstance, deps: TokenEndpointsDeps): Promise<void> {
  scope.post(
    API.introspect,
    {
      schema: {
        tags: ['oauth'],
        summary: 'Token introspection (RFC 7662)',
        description: 'token, optional token_type_hint. Confidential clients only. Access and refresh tokens.',
      },
    },
    async (request, reply) => {
      const { params, token } = tokenParams(request.body);
      const { client } = await deps.authenticate(request, reply, params);
      if (client.public) throw new OAuthError('invalid_client', 'Introspection is for confidential clients only.');
      const row = await deps.store.tokens.findLiveOf(token, client.clientId);
      if (!row) return INACTIVE;
      // RFC 7662 §2.2 aud: one resource as a string, several as an array (as in a JWT).
      const aud = audienceUris(parseAudience(row.resources), deps.issuer);
      return {
        active: true,
        scope: row.scopes,
        client_id: row.client_id,
        username: row.username,
        sub: row.user_id,
        exp: Math.floor(row.expires_at / 1000),
        iat: Math.floor(row.created_at / 1000),
        token_type: row.kind === 'access' ? 'Bearer' : 'refresh_token',
        aud: aud.length === 1 ? aud[0] : aud,
        ...(row.agent_lineage === null ? await budgetFields(deps.budgets, row) : await agentFields(deps.budgets, row)),
      };
    },
  );
}
