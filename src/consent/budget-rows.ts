import type { Kysely } from 'kysely';
import type { EventOutbox } from '../events/outbox.js';
import type { Database, OAuthBudgetsTable } from '../storage/schema.js';
import { periodEnd, periodStart } from './budget-rules.js';
import { counterState } from './agent-budgets.js';
import type { BudgetState } from './budgets.js';
import type { budgetStatements } from './budget-statements.js';

/**
 * What every writer of a grant's budget row shares (BudgetsService for calls held one by one, BudgetLeases
 * for slices): the period's rollover, the release of holds and slices whose process died, the threshold
 * events, and the row's lock taken before anything that cascades from it.
 */
export class BudgetRows {
  constructor(
    readonly statements: ReturnType<typeof budgetStatements>,
    /** PostgreSQL locks rows and needs the order; SQLite locks the whole database at a transaction's first write. */
    private readonly rowLocks: boolean,
    private readonly events: EventOutbox | null,
  ) {}

  /** The grant's budget row as it stands, or undefined, in the transaction when given one. */
  async row(executor: Kysely<Database>, userId: string, clientId: string): Promise<OAuthBudgetsTable | undefined> {
    return (await this.statements.row(executor, { userId, clientId })).rows[0];
  }

  /**
   * Takes the budget row's lock before touching its reservations or leases. Every writer takes them in that order
   * (a hold updates the row, then inserts; removing the budget locks the row, then cascades), so a settlement
   * racing the user's "Remove limit" waits instead of deadlocking (PostgreSQL; SQLite has one writer).
   */
  lock(trx: Kysely<Database>, userId: string, clientId: string): Promise<unknown> | undefined {
    // Not async: on SQLite a settlement awaits nothing here.
    return this.rowLocks ? this.statements.lock(trx, { userId, clientId }) : undefined;
  }

  /** A new period began: the used counts start again (a conditional UPDATE, so racing calls roll it once). */
  async rollOver(executor: Kysely<Database>, row: OAuthBudgetsTable, now: number): Promise<OAuthBudgetsTable | undefined> {
    const start = periodStart(row.period, now);
    if (row.period === 'total' || start <= row.period_start) return undefined;
    await executor
      .updateTable('oauth_budgets')
      .set({ period_start: start, tokens_used: 0, images_used: 0, updated_at: now })
      .where('user_id', '=', row.user_id)
      .where('client_id', '=', row.client_id)
      .where('period_start', '<', start)
      .execute();
    return this.row(executor, row.user_id, row.client_id);
  }

  /**
   * Releases, once, the holds of calls and the slices of instances whose process died (their rows expired):
   * each row is deleted first and its amount taken off only if this deleted it. True when there were any.
   */
  async releaseStale(executor: Kysely<Database>, userId: string, clientId: string, now: number): Promise<boolean> {
    await this.lock(executor, userId, clientId);
    const holds = await executor.deleteFrom('budget_reservations').where('user_id', '=', userId).where('client_id', '=', clientId).where('expires_at', '<=', now).returning(['tokens', 'images']).execute();
    const slices = await executor.deleteFrom('budget_leases').where('user_id', '=', userId).where('client_id', '=', clientId).where('expires_at', '<=', now).returning(['tokens', 'images']).execute();
    const stale = [...holds, ...slices];
    if (stale.length === 0) return false;
    const tokens = stale.reduce((sum, r) => sum + Number(r.tokens), 0);
    const images = stale.reduce((sum, r) => sum + Number(r.images), 0);
    await executor
      .updateTable('oauth_budgets')
      .set((eb) => ({
        tokens_reserved: eb('tokens_reserved', '-', tokens),
        images_reserved: eb('images_reserved', '-', images),
        // Counted where a lease's settlement sees it under the row's lock (budget-leases.ts): its slice may be gone.
        ...(slices.length > 0 ? { slices_released: eb('slices_released', '+', 1) } : {}),
      }))
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .execute();
    return true;
  }

  /** The grants with holds or slices past their time (the pruner's part). */
  async staleGrants(trx: Kysely<Database>, now: number): Promise<Array<{ user_id: string; client_id: string }>> {
    const holds = await trx.selectFrom('budget_reservations').select(['user_id', 'client_id']).where('expires_at', '<=', now).distinct().execute();
    const slices = await trx.selectFrom('budget_leases').select(['user_id', 'client_id']).where('expires_at', '<=', now).distinct().execute();
    const seen = new Map([...holds, ...slices].map((g) => [`${g.user_id} ${g.client_id}`, g]));
    return [...seen.values()];
  }

  /** SPEC §13: spending reached 80 % or 100 % of a limit this period (each announced once per period), in the settling transaction. */
  async thresholds(trx: Kysely<Database>, row: OAuthBudgetsTable): Promise<void> {
    if (!this.events) return;
    const share = (used: number, limit: number | null) => (limit === null || limit <= 0 ? 0 : Number(used) / Number(limit));
    const reached = Math.max(share(row.tokens_used, row.tokens_limit), share(row.images_used, row.images_limit));
    const data = { budget: { tokens: row.tokens_limit, images: row.images_limit, period: row.period }, tokens_used: Number(row.tokens_used), images_used: Number(row.images_used) };
    for (const percent of [80, 100] as const) {
      if (reached * 100 >= percent) await this.events.budgetThreshold(trx, row.user_id, row.client_id, Number(row.period_start), percent, data);
    }
  }
}

/** A budget row as the state calls plan on. */
export function stateOf(row: OAuthBudgetsTable): BudgetState {
  return counterState(row, row.period, periodEnd(row.period, row.period_start));
}

/** Whether the row's period is the current one (a row of an earlier period must be rolled over first). */
export function current(row: OAuthBudgetsTable, now: number): boolean {
  return row.period === 'total' || periodStart(row.period, now) <= row.period_start;
}
