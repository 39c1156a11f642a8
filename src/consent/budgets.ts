import type { Kysely } from 'kysely';
import { randomInt } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { commitOne, ownTransaction, type Batch, type BatchItem, type Transactor } from '../storage/group-commit.js';
import { grantKey, type InvalidationFeed } from '../storage/invalidations.js';
import { BudgetLeases } from './budget-leases.js';
import { LEASE_IDLE_MS } from './slice-returns.js';
import { BudgetRows, stateOf } from './budget-rows.js';
import { CommittedReads } from '../storage/commit-stamp.js';
import { FeedCache } from '../storage/feed-cache.js';
import { sortableId } from '../security/secrets.js';
import type { Database, OAuthBudgetsTable } from '../storage/schema.js';
import { budgetStatements } from './budget-statements.js';
import { periodStart, type BudgetLimit } from './budget-rules.js';
import type { EventOutbox } from '../events/outbox.js';
import type { AuditService } from '../audit/service.js';
import type { RequestOrigin } from '../http/request-context.js';
import { agentRows, agentSpending, agentState, chainState, holdAgents, recordAgentHold, releaseExpiredAgentHolds, settleAgents } from './agent-budgets.js';

/**
 * A grant's "no budget" is read again at least this often whatever the feed says: a limit set on another instance
 * is obeyed here within the same bound as a revocation, even were its announcement lost.
 */
const UNBUDGETED_TTL_MS = 1_000;

/** What the feed cache keeps for a grant: whether it has a budget. */
const NO_BUDGET = Object.freeze({ budgeted: false });
const HAS_BUDGET = Object.freeze({ budgeted: true });

/** The id of a sub-agent call nothing limited: it holds nothing, and its settlement only counts. */
const UNHELD = 'rsv_unheld';

/** A reservation left by a process that died is released after this long (SPEC §10, issue: "say 10 minutes"). */
export const RESERVATION_TTL_MS = 10 * 60_000;

export interface BudgetState extends BudgetLimit {
  tokensUsed: number;
  imagesUsed: number;
  tokensReserved: number;
  imagesReserved: number;
  /** What is left for new calls: limit − used − reserved (null: not limited). */
  tokensRemaining: number | null;
  imagesRemaining: number | null;
  /** When the period resets (ms); null for total. */
  resetsAt: number | null;
}

export interface Cost {
  tokens: number;
  images: number;
}

/**
 * What a call would hold, planned on the budget as it stands. `shaped`: the
 * remaining budget shaped the cost (a completion cap lowered to what is
 * left), so a staler row would have planned it differently.
 */
export type Planned = (Cost & { shaped?: boolean }) | 'refuse' | null;

export type Reservation = { kind: 'reserved'; id: string; state: BudgetState } | { kind: 'refused'; state: BudgetState };

/** A call held one by one (a sub-agent's, SPEC §15), settled in a transaction of its own. */
interface HoldSettlement {
  reservationId: string;
  userId: string;
  clientId: string;
  spent: Cost;
  lineage: readonly string[] | null;
}

/** A sub-agent call nothing limited: what it spent, counted on its lineage's rows. */
interface UnheldSpending {
  lineage: readonly string[];
  spent: Cost;
}

function sameLimit(a: BudgetLimit | null, b: BudgetLimit | null): boolean {
  return a === null || b === null ? a === b : a.tokens === b.tokens && a.images === b.images && a.period === b.period;
}

/** A limit as audit detail: fromTokens, fromImages, fromPeriod (all null: no limit). */
function limitDetail(side: 'from' | 'to', limit: BudgetLimit | null): Record<string, number | string | null> {
  return { [`${side}Tokens`]: limit?.tokens ?? null, [`${side}Images`]: limit?.images ?? null, [`${side}Period`]: limit?.period ?? null };
}

/**
 * Budgets inside the grant (SPEC §10). A call reserves its largest possible cost and settles to the actual
 * usage afterwards, so concurrent calls on any number of instances never spend past the limit. A call of the
 * app's own token holds from this instance's lease of the grant's budget (budget-leases.ts: a slice taken with
 * one conditional UPDATE, which PostgreSQL re-checks under the row lock and SQLite serialises); a sub-agent
 * token's call holds on the grant's row and its lineage's rows in one transaction of its own. Holds and slices
 * of a process that died expire and are released once, never counted twice: settling and releasing both
 * delete their row first and act only if they did.
 */
export class BudgetsService {
  private readonly statements = budgetStatements();
  private readonly rows: BudgetRows;
  private readonly leases: BudgetLeases;
  /** Sub-agent calls' settlements, each in its transaction (they lock the lineage's rows: never batched with others). */
  private readonly oneByOne: Batch<HoldSettlement, BudgetState | null>;
  /** Sub-agent calls nothing limited: their spending, counted for many calls at once beside their usage rows. */
  private readonly unheld: Batch<UnheldSpending, null>;
  /** Sub-agent tokens known to have no cap of their own: a cap is set at the exchange and never changes. */
  private readonly uncapped = new LRUCache<string, true>({ max: 100_000 });
  /** Grants' budget rows as committed (commit-stamp.ts: reread whenever the database changed). */
  private readonly committed: CommittedReads<OAuthBudgetsTable | undefined>;
  /** Grants known to have a budget or none (PostgreSQL: see budgeted()). */
  private readonly knownBudgets: FeedCache<{ budgeted: boolean }> | null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    /** Holds and settlements commit through it (group commit, or a transaction each). */
    private readonly transact: Transactor = ownTransaction(db),
    /**
     * Whether writers take the budget row's lock before its reservations (BudgetRows.lock). PostgreSQL locks rows and
     * needs the order; SQLite locks the whole database at a transaction's first write, so there the extra UPDATE
     * orders nothing.
     */
    rowLocks = true,
    /** Changes of a limit are security events (budget.changed). */
    private readonly audit: AuditService | null = null,
    /** SPEC §13: budget.changed and budget.threshold to the app's webhook, in the transaction of the change. */
    private readonly events: EventOutbox | null = null,
    /** Tells every instance's leases of a changed limit (and of ended grants); without it every hold reads the row. */
    private readonly feed: InvalidationFeed | null = null,
    /** How long this instance keeps an idle slice of a grant's budget (budget-leases.ts); 0: returned at once. */
    leaseIdleMs = LEASE_IDLE_MS,
  ) {
    this.rows = new BudgetRows(this.statements, rowLocks, events);
    this.committed = new CommittedReads(db);
    this.knownBudgets =
      feed && !this.committed.stamped ? new FeedCache(feed, { max: 100_000, ttlMs: UNBUDGETED_TTL_MS, evicts: (event) => (event.kind === 'budget' ? { key: event.key } : null) }) : null;
    this.leases = new BudgetLeases(this.rows, now, transact, () => feed?.fresh ?? false, leaseIdleMs);
    feed?.subscribe((ended) => {
      for (const { kind, key } of ended) {
        if (kind === 'budget' || kind === 'grant') this.leases.close((userId, clientId) => grantKey(userId, clientId) === key);
        else if (kind === 'user') this.leases.close((userId) => userId === key);
        else if (kind === 'client') this.leases.close((_, clientId) => clientId === key);
      }
    });
    this.oneByOne = {
      solo: true,
      run: async (trx, items) => {
        const states: Array<BudgetState | null> = [];
        for (const item of items) states.push(await this.settleHold(trx, item));
        return states;
      },
      committed: () => undefined,
      failed: () => undefined,
    };
    this.unheld = {
      // Agents' rows are locked after any grant's budget row (agent-budgets.ts: the lock order).
      last: true,
      run: async (trx, items) => {
        const totals = new Map<string, Cost>();
        for (const { lineage, spent } of items) {
          for (const hash of lineage) {
            const sum = totals.get(hash) ?? { tokens: 0, images: 0 };
            totals.set(hash, { tokens: sum.tokens + spent.tokens, images: sum.images + spent.images });
          }
        }
        const now = this.now();
        // Ascending token hash: the lock order of agents' rows.
        for (const hash of [...totals.keys()].sort()) await this.statements.spendAgent(trx, { hash, ...totals.get(hash)!, now });
        return items.map(() => null);
      },
      committed: () => undefined,
      failed: () => undefined,
    };
  }

  /** A sub-agent lineage's rows (leaf first as given; any order back), through a prepared statement. */
  private async lineageRows(executor: Kysely<Database>, lineage: readonly string[]) {
    const select = this.statements.agentRows[lineage.length - 1];
    if (!select) return agentRows(executor, lineage);
    return (await select(executor, { h1: lineage[0], h2: lineage[1], h3: lineage[2] })).rows;
  }

  /** The grant's budget row as it stands, or undefined: one indexed read (most grants have none), in the transaction when given one. */
  private row(userId: string, clientId: string, trx: Kysely<Database> = this.db): Promise<OAuthBudgetsTable | undefined> {
    // Outside a transaction the row is read on every call (SPEC §10: a limit set anywhere counts at the next
    // call), but on SQLite only when any connection has committed since this process last read it.
    if (trx === this.db) return this.committed.read(grantKey(userId, clientId), () => this.rows.row(trx, userId, clientId));
    return this.rows.row(trx, userId, clientId);
  }

  /**
   * Whether the grant has a budget, for a call of its own token. Where no exact stamp tells whether the row
   * changed (PostgreSQL), the answer is remembered through the invalidation feed. "None", as a lease trusts the
   * feed for a changed limit: a limit set later counts from the next call on this instance at once, on the
   * others within the feed's delay (NOTIFY at the commit; the cache is bypassed while the feed is not fresh).
   * "One" sends the call to its lease, whose extension reads the row under its lock: a budget removed since
   * costs that call a transaction, never a wrong answer — and calls that find a slice returned a moment ago
   * wait for the one extension that takes the next, instead of each reading the row first.
   */
  private async budgeted(userId: string, clientId: string): Promise<boolean> {
    if (!this.knownBudgets) return (await this.row(userId, clientId)) !== undefined;
    const known = await this.knownBudgets.get(grantKey(userId, clientId), async () => ((await this.row(userId, clientId)) ? HAS_BUDGET : NO_BUDGET));
    return known!.budgeted;
  }

  /** The row a transaction has just held or updated: its absence is an error. */
  private async heldRow(trx: Kysely<Database>, userId: string, clientId: string): Promise<OAuthBudgetsTable> {
    const row = await this.row(userId, clientId, trx);
    if (!row) throw new Error(`the budget of ${userId} for ${clientId} vanished inside its transaction`);
    return row;
  }

  /**
   * The budget of a grant, its period rolled over to now; null when the user set none. `known`: the row as a
   * statement just read it beside something else (joined-budget.ts), null when that read found none. Slices
   * instances hold for calls in flight count as reserved (SPEC §10's budget_remaining among them), and what
   * their calls spent since the slice's last extension (less room than there is, never more). This instance's
   * own idle slice goes back first, so what it reports here is exact once the grant's calls have ended.
   */
  async get(userId: string, clientId: string, known?: OAuthBudgetsTable | null): Promise<BudgetState | null> {
    const now = this.now();
    const returned = await this.leases.returnIdle(userId, clientId);
    let row = known === undefined || returned ? await this.row(userId, clientId) : (known ?? undefined);
    if (!row) return null;
    // Holds of calls that died are released here too, but only a budget holding something can have any: a read
    // writes only then, or to return this instance's idle slice (this runs on every token response and introspection,
    // never inside a transaction).
    if ((row.tokens_reserved > 0 || row.images_reserved > 0) && (await this.db.transaction().execute((trx) => this.rows.releaseStale(trx, userId, clientId, now)))) {
      row = await this.row(userId, clientId);
      if (!row) return null;
    }
    return stateOf((await this.rows.rollOver(this.db, row, now)) ?? row);
  }

  /**
   * Sets, changes or (null) removes the limit; what was used in the current period is kept. Takes effect on the
   * next call: this instance's lease of the grant takes no new holds at once, other instances' when the feed
   * tells them (the change is announced in its transaction). A change (not the same limit set again) is recorded
   * as budget.changed, from and to, in the same transaction; origin: the request (dashboard card, consent) that changed it.
   */
  async set(userId: string, clientId: string, limit: BudgetLimit | null, executor: Kysely<Database> = this.db, origin?: RequestOrigin): Promise<void> {
    const change = async (trx: Kysely<Database>) => {
      // The row's lock first (PostgreSQL): racing changes are recorded one after the other, each from what the last set.
      await this.rows.lock(trx, userId, clientId);
      const before = await this.row(userId, clientId, trx);
      const from: BudgetLimit | null = before ? { tokens: before.tokens_limit, images: before.images_limit, period: before.period } : null;
      await this.write(userId, clientId, limit, trx);
      if (sameLimit(from, limit)) return;
      await this.feed?.record(trx, [{ kind: 'budget', key: grantKey(userId, clientId) }]);
      await this.audit?.record({ type: 'budget.changed', userId, clientId, detail: { ...limitDetail('from', from), ...limitDetail('to', limit) } }, origin, trx);
      await this.events?.webhook(trx, 'budget.changed', userId, clientId, { budget: limit && { tokens: limit.tokens, images: limit.images, period: limit.period } });
    };
    this.leases.close((u, c) => u === userId && c === clientId);
    await (executor.isTransaction ? change(executor) : executor.transaction().execute(change));
  }

  private async write(userId: string, clientId: string, limit: BudgetLimit | null, executor: Kysely<Database>): Promise<void> {
    if (limit === null) {
      await executor.deleteFrom('oauth_budgets').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
      return;
    }
    const now = this.now();
    const start = periodStart(limit.period, now);
    await executor
      .insertInto('oauth_budgets')
      .values({
        user_id: userId,
        client_id: clientId,
        tokens_limit: limit.tokens,
        images_limit: limit.images,
        period: limit.period,
        period_start: start,
        tokens_used: 0,
        images_used: 0,
        tokens_reserved: 0,
        images_reserved: 0,
        updated_at: now,
        // Not 0: a row removed and set again (or its grant's) must never show a count a slice of the old row saw.
        slices_released: now * 1000 + randomInt(1000),
      })
      .onConflict((oc) =>
        oc.columns(['user_id', 'client_id']).doUpdateSet((eb) => ({
          tokens_limit: limit.tokens,
          images_limit: limit.images,
          // A new period kind starts counting afresh; the same kind keeps what this period used.
          tokens_used: eb.case().when('oauth_budgets.period', '=', limit.period).then(eb.ref('oauth_budgets.tokens_used')).else(0).end(),
          images_used: eb.case().when('oauth_budgets.period', '=', limit.period).then(eb.ref('oauth_budgets.images_used')).else(0).end(),
          period_start: eb.case().when('oauth_budgets.period', '=', limit.period).then(eb.ref('oauth_budgets.period_start')).else(start).end(),
          period: limit.period,
          updated_at: now,
        })),
      )
      .execute();
  }

  /**
   * Holds the cost of a call if it fits in what remains; otherwise says so
   * with the state (for the 429). `plan` turns the budget as it stands into
   * the cost to hold (null: this budget does not limit the call, or nothing
   * fits). The caller settles the reservation after the call, whatever
   * happened. Null when the grant has no budget, or the plan holds nothing.
   */
  async reserve(userId: string, clientId: string, plan: (state: BudgetState) => Planned, lineage?: readonly string[] | null): Promise<Reservation | null> {
    if (lineage && lineage.length > 0) return this.reserveLineage(userId, clientId, lineage, plan);
    // Most grants have no budget: they are answered by one indexed read, outside any transaction, or from memory.
    if (this.leases.leasing(userId, clientId)) {
      const joined = await this.leases.reserve(userId, clientId, plan, true);
      if (joined !== undefined) return joined;
    }
    if (!(await this.budgeted(userId, clientId))) return null;
    return (await this.leases.reserve(userId, clientId, plan)) ?? null;
  }

  /**
   * A sub-agent token's call (SPEC §15): one hold over the grant's budget (when the user set one) and every
   * sub-agent row of its lineage (leaf first), all in one transaction, each a conditional UPDATE checked on the
   * row as it is now — so calls of sibling agents on any number of instances spend past no cap, neither theirs
   * nor the grant's. Always a reservation (a hold of nothing when nothing limits the call), so settlement
   * counts every sub-agent's spending (the dashboard shows it).
   */
  private async reserveLineage(userId: string, clientId: string, lineage: readonly string[], plan: (state: BudgetState) => Planned): Promise<Reservation> {
    // It holds on the grant's row: this instance's idle slice of it goes back first (as for a read).
    await this.leases.returnIdle(userId, clientId);
    // Nothing limits the call (no budget, no cap in the lineage): no hold and no transaction, as for the user's own
    // token; the settlement still counts what it spent in the lineage's rows.
    const known = lineage.every((hash) => this.uncapped.has(hash));
    const [grant, agents] = await Promise.all([this.row(userId, clientId), known ? [] : this.lineageRows(this.db, lineage)]);
    const capped = agents.filter((row) => row.tokens_limit !== null || row.images_limit !== null);
    for (const row of agents) if (!capped.includes(row)) this.uncapped.set(row.token_hash, true);
    if (!grant && capped.length === 0) {
      const state = chainState(null, agents);
      if (plan(state) === null) return { kind: 'reserved', id: UNHELD, state };
    }
    const attempt = () =>
      this.transact(async (trx): Promise<Reservation> => {
        let refused: Reservation | null = null;
        // A miss means another call took what was left since the read: read, plan and hold once more.
        for (let tries = 0; tries < 2; tries++) {
          const now = this.now();
          let grant = await this.row(userId, clientId, trx);
          if (grant) grant = (await this.rows.rollOver(trx, grant, now)) ?? grant;
          if (grant && (grant.tokens_reserved > 0 || grant.images_reserved > 0) && (await this.rows.releaseStale(trx, userId, clientId, now))) grant = await this.heldRow(trx, userId, clientId);
          const state = chainState(grant ? stateOf(grant) : null, await this.lineageRows(trx, lineage));
          const cost = plan(state);
          if (cost === 'refuse') return { kind: 'refused', state };
          const held: Cost = cost === null ? { tokens: 0, images: 0 } : { tokens: cost.tokens, images: cost.images };
          const id = sortableId('rsv_', now);
          const onGrant = grant !== undefined && (held.tokens > 0 || held.images > 0);
          // The grant's row first, then the agents' (agent-budgets.ts: the lock order).
          if (onGrant && !(await this.statements.hold(trx, { userId, clientId, tokens: held.tokens, images: held.images, now })).rows[0]) {
            refused = { kind: 'refused', state };
            continue;
          }
          if (!(await holdAgents(trx, lineage, held, now))) {
            // Taken back in the same transaction: a settlement of nothing spent.
            if (onGrant) await this.statements.settle(trx, { userId, clientId, heldTokens: held.tokens, heldImages: held.images, spentTokens: 0, spentImages: 0, now });
            refused = { kind: 'refused', state };
            continue;
          }
          if (onGrant) await this.statements.insertReservation(trx, { id, userId, clientId, tokens: held.tokens, images: held.images, now, expires: now + RESERVATION_TTL_MS });
          await recordAgentHold(trx, id, lineage, held, now, now + RESERVATION_TTL_MS);
          const minus = (remaining: number | null, n: number) => (remaining === null ? null : remaining - n);
          return { kind: 'reserved', id, state: { ...state, tokensRemaining: minus(state.tokensRemaining, held.tokens), imagesRemaining: minus(state.imagesRemaining, held.images) } };
        }
        return refused!;
      });
    const first = await attempt();
    // Holds of sub-agent calls whose process died are released (in a transaction of their own), then it is tried again.
    if (first.kind === 'refused' && (await this.transact((trx) => releaseExpiredAgentHolds(trx, this.now()))) > 0) return attempt();
    return first;
  }

  /** A new sub-agent token's cap (null: none of its own) and counters, in the exchange's transaction (SPEC §15). */
  async createAgent(trx: Kysely<Database>, tokenHash: string, userId: string, clientId: string, limit: BudgetLimit | null): Promise<void> {
    const zero = { tokens_used: 0, images_used: 0, tokens_reserved: 0, images_reserved: 0 };
    await this.statements.insertAgent(trx, { token_hash: tokenHash, user_id: userId, client_id: clientId, tokens_limit: limit?.tokens ?? null, images_limit: limit?.images ?? null, ...zero, updated_at: this.now() });
  }

  /** What each sub-agent token spent and may spend, by token hash (the connected-apps card). */
  async agentStates(hashes: readonly string[]): Promise<Map<string, BudgetState>> {
    const rows = await agentSpending(this.db, hashes);
    return new Map([...rows].map(([hash, row]) => [hash, agentState(row)]));
  }

  /** What remains for a sub-agent token's calls: the tightest of the grant's budget and its lineage's caps (introspection). */
  async lineageState(userId: string, clientId: string, lineage: readonly string[]): Promise<BudgetState> {
    return chainState(await this.get(userId, clientId), await this.lineageRows(this.db, lineage));
  }

  /**
   * What settles a call once it is over, to run in the transaction of its usage row: its hold goes, and what it
   * actually spent (nothing, when it failed) is counted. A lease's calls can be settled many in one transaction.
   */
  settlement(reservationId: string, userId: string, clientId: string, spent: Cost, lineage?: readonly string[] | null): BatchItem<BudgetState | null> {
    if (this.leases.holds(reservationId)) return { batch: this.leases, item: this.leases.settlement(reservationId, spent) };
    // Nothing limited the call when it began: its spending is counted, as the grant's own calls' is not held.
    if (reservationId === UNHELD && lineage && lineage.length > 0) return { batch: this.unheld, item: { lineage, spent } satisfies UnheldSpending };
    const item: HoldSettlement = { reservationId, userId, clientId, spent, lineage: lineage ?? null };
    return { batch: this.oneByOne, item };
  }

  /** The call is over: settled in a transaction of its own, with `alongside`'s writes (its usage row) first. */
  async settle(reservationId: string, userId: string, clientId: string, spent: Cost, alongside?: (trx: Kysely<Database>) => Promise<void>, lineage?: readonly string[] | null): Promise<BudgetState | null> {
    return commitOne(this.transact, this.settlement(reservationId, userId, clientId, spent, lineage), alongside);
  }

  /** A call held one by one: its reservation goes, its spending is counted on the grant's row and its lineage's. */
  private async settleHold(trx: Kysely<Database>, { reservationId, userId, clientId, spent, lineage }: HoldSettlement): Promise<BudgetState | null> {
    await this.rows.lock(trx, userId, clientId);
    const released = (await this.statements.takeReservation(trx, { id: reservationId })).rows[0];
    // Released already by expiry: only the spending is counted, never the hold twice.
    const held = released ?? { tokens: 0, images: 0 };
    const { rows } = await this.statements.settle(trx, { userId, clientId, heldTokens: held.tokens, heldImages: held.images, spentTokens: spent.tokens, spentImages: spent.images, now: this.now() });
    const row = rows[0];
    if (row) await this.rows.thresholds(trx, row);
    if (!lineage || lineage.length === 0) return row ? stateOf(row) : null;
    // A sub-agent's call: its lineage's rows after the grant's (the lock order), then what remains of all.
    await settleAgents(trx, reservationId, lineage, spent, this.now());
    return chainState(row ? stateOf(row) : null, await this.lineageRows(trx, lineage));
  }

  /** Shutdown, once no call is in flight: this instance's slices go back rather than wait to expire. */
  close(): Promise<void> {
    return this.leases.returnAll();
  }

  /** Once the returns of idle slices this instance has begun (budget-leases.ts: nobody's answer waits for them) have ended. */
  returnsDone(): Promise<void> {
    return this.leases.returnsDone();
  }

  /** The pruner's part: holds of calls and slices of instances whose process died are released within the hour even if nobody reads the budget. */
  async releaseExpired(trx: Kysely<Database>, now: number): Promise<number> {
    const grants = await this.rows.staleGrants(trx, now);
    for (const g of grants) await this.rows.releaseStale(trx, g.user_id, g.client_id, now);
    return grants.length + (await releaseExpiredAgentHolds(trx, now));
  }
}
