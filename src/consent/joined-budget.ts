import type { BudgetPeriod, OAuthBudgetsTable } from '../storage/schema.js';

/**
 * A grant's budget row read beside another row in the same statement (a LEFT
 * JOIN on user and client): the code a redemption looks up carries it, so the
 * token response's authorization_details (SPEC §10) cost no statement — and on
 * PostgreSQL no round trip — of their own.
 */
export const JOINED_BUDGET = [
  'oauth_budgets.period as budget_period',
  'oauth_budgets.period_start as budget_period_start',
  'oauth_budgets.tokens_limit as budget_tokens_limit',
  'oauth_budgets.images_limit as budget_images_limit',
  'oauth_budgets.tokens_used as budget_tokens_used',
  'oauth_budgets.images_used as budget_images_used',
  'oauth_budgets.tokens_reserved as budget_tokens_reserved',
  'oauth_budgets.images_reserved as budget_images_reserved',
  'oauth_budgets.updated_at as budget_updated_at',
] as const;

/** The joined columns: all null when the grant has no budget. */
export interface JoinedBudget {
  budget_period: BudgetPeriod | null;
  budget_period_start: number | null;
  budget_tokens_limit: number | null;
  budget_images_limit: number | null;
  budget_tokens_used: number | null;
  budget_images_used: number | null;
  budget_tokens_reserved: number | null;
  budget_images_reserved: number | null;
  budget_updated_at: number | null;
}

/** The budget row of a joined read, or null when the grant has none (period is never null in a budget row). */
export function joinedBudget(row: JoinedBudget, userId: string, clientId: string): OAuthBudgetsTable | null {
  if (row.budget_period === null) return null;
  return {
    user_id: userId,
    client_id: clientId,
    tokens_limit: row.budget_tokens_limit,
    images_limit: row.budget_images_limit,
    period: row.budget_period,
    period_start: row.budget_period_start ?? 0,
    tokens_used: row.budget_tokens_used ?? 0,
    images_used: row.budget_images_used ?? 0,
    tokens_reserved: row.budget_tokens_reserved ?? 0,
    images_reserved: row.budget_images_reserved ?? 0,
    updated_at: row.budget_updated_at ?? 0,
  };
}
