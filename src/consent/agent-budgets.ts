import type { Kysely } from 'kysely';
import type { AgentBudgetsTable, Database } from '../storage/schema.js';
import type { BudgetState, Cost } from './budgets.js';

/**
 * A sub-agent's own cap and spending (SPEC §15). A sub-agent token's call
 * counts in its own row, in each sub-agent ancestor's row (its lineage) and
 * in the grant's budget; BudgetsService holds and settles all of them in one
 * transaction. Every writer takes the rows' locks in one order — the grant's
 * budget row first, then the agents' rows by ascending token hash, one
 * conditional UPDATE each — so racing calls of sibling agents wait for each
 * other instead of deadlocking (PostgreSQL; SQLite has one writer).
 */

/** What remains of a row's limit for new calls (null: it does not limit). */
const left = (limit: number | null, used: number, reserved: number) => (limit === null ? null : Math.max(0, limit - used - reserved));

/** The smaller of two remainders, null meaning "not limited". */
const tighter = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/** The columns a grant's budget row and a sub-agent's row share: limits, spending and holds. */
type Counters = Pick<AgentBudgetsTable, 'tokens_limit' | 'images_limit' | 'tokens_used' | 'images_used' | 'tokens_reserved' | 'images_reserved'>;

/** A budget row as the state calls plan on, for either kind of row (the grant's, or a sub-agent's). */
export function counterState(row: Counters, period: BudgetState['period'], resetsAt: BudgetState['resetsAt']): BudgetState {
  return {
    tokens: row.tokens_limit,
    images: row.images_limit,
    period,
    tokensUsed: row.tokens_used,
    imagesUsed: row.images_used,
    tokensReserved: row.tokens_reserved,
    imagesReserved: row.images_reserved,
    tokensRemaining: left(row.tokens_limit, row.tokens_used, row.tokens_reserved),
    imagesRemaining: left(row.images_limit, row.images_used, row.images_reserved),
    resetsAt,
  };
}

/** A sub-agent row as a budget state: its cap is for the token's life (period total). */
export function agentState(row: AgentBudgetsTable): BudgetState {
  return counterState(row, 'total', null);
}

const UNLIMITED: BudgetState = { tokens: null, images: null, period: 'total', tokensUsed: 0, imagesUsed: 0, tokensReserved: 0, imagesReserved: 0, tokensRemaining: null, imagesRemaining: null, resetsAt: null };

/**
 * The state a call of the chain plans on: for tokens and for images, the
 * limit that leaves least (the grant's, or a sub-agent's), so a call is
 * shaped and refused by whichever binds.
 */
export function chainState(grant: BudgetState | null, agents: readonly AgentBudgetsTable[]): BudgetState {
  let state = grant ?? UNLIMITED;
  for (const row of agents) {
    const own = agentState(row);
    if (own.tokensRemaining !== null && tighter(state.tokensRemaining, own.tokensRemaining) !== state.tokensRemaining) {
      state = { ...state, tokens: own.tokens, tokensUsed: own.tokensUsed, tokensReserved: own.tokensReserved, tokensRemaining: own.tokensRemaining, period: 'total', resetsAt: null };
    }
    if (own.imagesRemaining !== null && tighter(state.imagesRemaining, own.imagesRemaining) !== state.imagesRemaining) {
      state = { ...state, images: own.images, imagesUsed: own.imagesUsed, imagesReserved: own.imagesReserved, imagesRemaining: own.imagesRemaining };
    }
  }
  return state;
}

/** The lineage as locks are taken: ascending token hash. */
const lockOrder = (lineage: readonly string[]) => [...lineage].sort();

/** The rows of one call's sub-agent lineage (leaf first as given; any order back). */
export async function agentRows(trx: Kysely<Database>, lineage: readonly string[]): Promise<AgentBudgetsTable[]> {
  if (lineage.length === 0) return [];
  return trx.selectFrom('agent_budgets').selectAll().where('token_hash', 'in', [...lineage]).execute();
}

/** Adds (sign 1) or takes back (sign −1) a hold on one row, unconditionally. */
async function shift(trx: Kysely<Database>, hash: string, cost: Cost, sign: 1 | -1, now: number): Promise<void> {
  await trx
    .updateTable('agent_budgets')
    .set((eb) => ({ tokens_reserved: eb('tokens_reserved', '+', sign * cost.tokens), images_reserved: eb('images_reserved', '+', sign * cost.images), updated_at: now }))
    .where('token_hash', '=', hash)
    .execute();
}

/**
 * Holds the cost on every row of the lineage if it fits each as it is now —
 * one conditional UPDATE per row (PostgreSQL re-checks the condition under
 * the row lock), in lock order; when one does not fit, the holds already
 * taken are taken back in the same transaction and false is returned.
 */
export async function holdAgents(trx: Kysely<Database>, lineage: readonly string[], cost: Cost, now: number): Promise<boolean> {
  const done: string[] = [];
  for (const hash of lockOrder(lineage)) {
    const result = await trx
      .updateTable('agent_budgets')
      .set((eb) => ({ tokens_reserved: eb('tokens_reserved', '+', cost.tokens), images_reserved: eb('images_reserved', '+', cost.images), updated_at: now }))
      .where('token_hash', '=', hash)
      .where((eb) =>
        eb.and([
          eb.or([eb('tokens_limit', 'is', null), eb(eb(eb('tokens_used', '+', eb.ref('tokens_reserved')), '+', cost.tokens), '<=', eb.ref('tokens_limit'))]),
          eb.or([eb('images_limit', 'is', null), eb(eb(eb('images_used', '+', eb.ref('images_reserved')), '+', cost.images), '<=', eb.ref('images_limit'))]),
        ]),
      )
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      for (const held of done) await shift(trx, held, cost, -1, now);
      return false;
    }
    done.push(hash);
  }
  return true;
}

/** Records a chain hold (released by settlement, or after its expiry by releaseExpiredAgentHolds). */
export async function recordAgentHold(trx: Kysely<Database>, id: string, lineage: readonly string[], cost: Cost, now: number, expires: number): Promise<void> {
  await trx
    .insertInto('agent_reservations')
    .values({ id, token_hash: lineage[0]!, chain: lineage.join(' '), tokens: cost.tokens, images: cost.images, created_at: now, expires_at: expires })
    .execute();
}

/**
 * The call is over: its hold comes off every row of the lineage (unless its
 * expiry released it already: then only the spending is counted, never the
 * hold twice) and what it spent goes on, in lock order.
 */
export async function settleAgents(trx: Kysely<Database>, reservationId: string, lineage: readonly string[], spent: Cost, now: number): Promise<void> {
  const released = await trx.deleteFrom('agent_reservations').where('id', '=', reservationId).returning(['tokens', 'images']).executeTakeFirst();
  const held = { tokens: Number(released?.tokens ?? 0), images: Number(released?.images ?? 0) };
  for (const hash of lockOrder(lineage)) {
    await trx
      .updateTable('agent_budgets')
      .set((eb) => ({
        tokens_reserved: eb('tokens_reserved', '-', held.tokens),
        images_reserved: eb('images_reserved', '-', held.images),
        tokens_used: eb('tokens_used', '+', spent.tokens),
        images_used: eb('images_used', '+', spent.images),
        updated_at: now,
      }))
      .where('token_hash', '=', hash)
      .execute();
  }
}

/**
 * Releases, once, the holds of calls whose process died (expired
 * reservations): each is deleted first and its hold taken off only if this
 * deleted it. The rows are updated in lock order across all of them.
 */
export async function releaseExpiredAgentHolds(trx: Kysely<Database>, now: number): Promise<number> {
  const stale = await trx.deleteFrom('agent_reservations').where('expires_at', '<=', now).returning(['chain', 'tokens', 'images']).execute();
  const totals = new Map<string, Cost>();
  for (const hold of stale) {
    for (const hash of hold.chain.split(' ')) {
      const sum = totals.get(hash) ?? { tokens: 0, images: 0 };
      totals.set(hash, { tokens: sum.tokens + Number(hold.tokens), images: sum.images + Number(hold.images) });
    }
  }
  for (const hash of lockOrder([...totals.keys()])) await shift(trx, hash, totals.get(hash)!, -1, now);
  return stale.length;
}

/** What each sub-agent token spent (the dashboard's list), by token hash. */
export async function agentSpending(db: Kysely<Database>, hashes: readonly string[]): Promise<Map<string, AgentBudgetsTable>> {
  if (hashes.length === 0) return new Map();
  const rows = await db.selectFrom('agent_budgets').selectAll().where('token_hash', 'in', [...hashes]).execute();
  return new Map(rows.map((r) => [r.token_hash, r]));
}
