import type { OAuthBudgetsTable } from '../storage/schema.js';

/**
 * A grant's budget row read beside another row in the same statement (a LEFT
 * JOIN on user and client): the code a redemption looks up, and the token a
 * refresh looks up, carry it, so the token response's authorization_details
 * (SPEC §10) cost no statement — and on PostgreSQL no round trip — of their own.
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
  'oauth_budgets.slices_released as budget_slices_released',
] as const;

type BudgetColumn = Exclude<keyof OAuthBudgetsTable, 'user_id' | 'client_id'>;

/** The joined columns (JOINED_BUDGET): all null when the grant has no budget. */
export type JoinedBudget = { [K in BudgetColumn as `budget_${K}`]: OAuthBudgetsTable[K] | null };

/** The budget row of a joined read, or null when the grant has none (a budget row's period is never null). */
export function joinedBudget(row: JoinedBudget & Pick<OAuthBudgetsTable, 'user_id' | 'client_id'>): OAuthBudgetsTable | null {
  if (row.budget_period === null) return null;
  return {
    user_id: row.user_id,
    client_id: row.client_id,
    tokens_limit: row.budget_tokens_limit,
    images_limit: row.budget_images_limit,
    period: row.budget_period,
    period_start: row.budget_period_start!,
    tokens_used: row.budget_tokens_used!,
    images_used: row.budget_images_used!,
    tokens_reserved: row.budget_tokens_reserved!,
    images_reserved: row.budget_images_reserved!,
    updated_at: row.budget_updated_at!,
    slices_released: row.budget_slices_released!,
  };
}
