import { parseAuthorizationDetails } from './authorization-details.js';
import { BUDGET_TYPE, InvalidAuthorizationDetails, type BudgetLimit } from './budget-rules.js';
import type { BudgetState } from './budgets.js';

/**
 * What a token exchange asks for its sub-agent token in RFC 9396
 * `authorization_details` (SPEC §15). Each entry narrows what the subject
 * token holds: a serika_budget no more than it has left, serika_characters
 * ids it may see (a parent with "all" allows any of the user's).
 */
export interface AgentDetails {
  /** The sub-agent's own cap, for its token's life; null: it spends from its parent's alone. */
  budget: BudgetLimit | null;
  /** The characters it may see; null: its parent's. */
  characters: readonly string[] | null;
}

const isEntry = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses the exchange's details: a serika_budget is for the token's life, so
 * its period is `total` (the default here); `day` or `month` cannot apply to a
 * token that lives an hour and is refused. Throws InvalidAuthorizationDetails.
 */
export function parseAgentDetails(raw: string): AgentDetails {
  let text = raw;
  // The period defaults to total here (month at authorize); parseAuthorizationDetails judges everything else.
  if (raw.length <= 4096) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (Array.isArray(parsed)) text = JSON.stringify(parsed.map((e: unknown) => (isEntry(e) && e.type === BUDGET_TYPE && e.period === undefined ? { ...e, period: 'total' } : e)));
    } catch {
      // Malformed: parseAuthorizationDetails says so.
    }
  }
  const { budget, characters } = parseAuthorizationDetails(text);
  if (budget && budget.period !== 'total') throw new InvalidAuthorizationDetails(`A sub-agent's ${BUDGET_TYPE} is for its token's life: period must be total.`);
  return { budget, characters };
}

/**
 * SPEC §15's narrowing of a budget: the sub-agent's cap may be no more than
 * what its parent has left (the tightest of the grant's budget and the
 * parent's own caps); a field the parent does not limit may be anything, and
 * a field the sub-agent leaves out is limited by its parent's alone. Returns
 * why it is wider, or null.
 */
export function budgetWiderThan(asked: BudgetLimit, parent: BudgetState): string | null {
  if (asked.tokens !== null && parent.tokensRemaining !== null && asked.tokens > parent.tokensRemaining) {
    return `${BUDGET_TYPE}.tokens (${asked.tokens}) is more than the subject token has left (${parent.tokensRemaining}).`;
  }
  if (asked.images !== null && parent.imagesRemaining !== null && asked.images > parent.imagesRemaining) {
    return `${BUDGET_TYPE}.images (${asked.images}) is more than the subject token has left (${parent.imagesRemaining}).`;
  }
  return null;
}
