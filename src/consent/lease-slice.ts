import type { OAuthBudgetsTable } from '../storage/schema.js';
import { stateOf } from './budget-rows.js';
import type { BudgetState, Cost } from './budgets.js';

// One lease of budget-leases.ts in memory: the room it was granted, what its calls hold, and what they spent.

export const ZERO: Cost = { tokens: 0, images: 0 };
export const plus = (a: Cost, b: Cost): Cost => ({ tokens: a.tokens + b.tokens, images: a.images + b.images });
export const minus = (a: Cost, b: Cost): Cost => ({ tokens: a.tokens - b.tokens, images: a.images - b.images });

/** A budget row with `off` taken from what it reserves (never below zero). */
export const lessReserved = (row: OAuthBudgetsTable, off: Cost): OAuthBudgetsTable => ({
  ...row,
  tokens_reserved: Math.max(0, row.tokens_reserved - off.tokens),
  images_reserved: Math.max(0, row.images_reserved - off.images),
});

/** One instance's slice of one grant's budget, and the calls it holds. */
export class Lease {
  readonly holds = new Map<string, Cost>();
  held: Cost = ZERO;
  /** Free room an extension in flight has taken for its call. */
  parked: Cost = ZERO;
  /** Extensions in flight: the slice is not returned meanwhile. */
  extensions = 0;
  /** No new holds: the limit changed, its slice is being returned, or it vanished. */
  closing = false;
  /** When its row expires unless renewed (each extension renews it, and a settlement once a TOUCH_MS). */
  expiresAt = 0;
  /** When its row was last renewed, as committed (a renewal in a transaction that rolls back never counts). */
  touchedAt = 0;
  /** The budget row's slices_released when the slice was last seen there: a count that moved since may mean it is gone. */
  releasesSeen: number;
  /**
   * What committed settlements spent of its room: counted as used, yet still reserved on the budget row and in
   * the slice's row until the next extension (or the return) takes it off. Not free: it was spent.
   */
  spentIn: Cost = ZERO;
  /** Its rest is being (or has been) returned. */
  returned = false;
  /** When (performance.now()) it was last left with no call in flight, and the timer that returns it once idle long enough. */
  idleSince = 0;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly key: string,
    /** What the slice reserves on the budget row for calls (free or held), as its committed transactions left it; spentIn beside it. */
    public granted: Cost,
    /** The budget row as this lease last saw it (its last committed extension or settlement): what calls held from memory report. */
    public row: OAuthBudgetsTable,
  ) {
    this.releasesSeen = row.slices_released;
  }

  /** No call in flight, no extension coming, not returned yet. */
  idle(): boolean {
    return this.holds.size === 0 && this.extensions === 0 && !this.returned;
  }

  /**
   * Whether it may be kept idle: it has free room, and no more than a `share`-th of what remains (its own free room
   * included, the row as its last committed settlement or extension left it), as when a slice is taken — so a call on another instance meanwhile still
   * finds at least the rest; a call that held much and spent little leaves more, which goes back at once.
   */
  worthKeeping(share: number): boolean {
    const free = this.free();
    const { row } = this;
    const ample = (limit: number | null, used: number, reserved: number, room: number) => limit === null || room * share <= limit - used - reserved + room;
    return (free.tokens > 0 || free.images > 0) && ample(row.tokens_limit, row.tokens_used, row.tokens_reserved, free.tokens) && ample(row.images_limit, row.images_used, row.images_reserved, free.images);
  }

  free(): Cost {
    return minus(minus(this.granted, this.held), this.parked);
  }

  hold(id: string, cost: Cost): void {
    this.holds.set(id, cost);
    this.held = plus(this.held, cost);
  }

  release(id: string): Cost {
    const cost = this.holds.get(id) ?? ZERO;
    this.holds.delete(id);
    this.held = minus(this.held, cost);
    return cost;
  }

  /**
   * The state a call reports: the row, with this slice's free room counted as remaining, not reserved; `unheld`:
   * what else the row still reserves of the slice though no call holds it (spentIn, as the row stood, and what the
   * calls settling now held and did not spend).
   */
  state(row = this.row, unheld = ZERO): BudgetState {
    return stateOf(lessReserved(row, plus(this.closing ? ZERO : this.free(), unheld)));
  }
}

/** What a call spends of its slice's room: what it spent, up to what it held (more is counted, but was never in the slice). */
export const consumed = (held: Cost, spent: Cost): Cost => ({ tokens: Math.min(held.tokens, spent.tokens), images: Math.min(held.images, spent.images) });
