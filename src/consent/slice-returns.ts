import type { Kysely } from 'kysely';
import type { Transactor } from '../storage/group-commit.js';
import type { Database } from '../storage/schema.js';
import type { BudgetRows } from './budget-rows.js';
import type { Lease } from './lease-slice.js';

/**
 * A slice with no call in flight is kept this long before its rest goes back: a steady flow of calls leaves it idle
 * for an instant between usage batches, and would otherwise return it and take it again (a transaction each) many
 * times a second. A read of the budget on this instance, a changed limit and shutdown return it at once.
 */
export const LEASE_IDLE_MS = 1_000;

/**
 * When budget-leases.ts's slices go back, and their returns: each in a transaction of its own that nobody's answer
 * waits for (a usage batch goes on at once), tracked by grant so that a read of the budget here, and shutdown, can.
 */
export class SliceReturns {
  private readonly returning = new Map<string, Set<Promise<void>>>();

  constructor(
    private readonly rows: BudgetRows,
    private readonly clock: () => number,
    private readonly transact: Transactor,
    /** How long an idle slice is kept; 0: returned as its last call settles. */
    private idleMs: number,
    /** Takes the lease out of use (no new holds) as its return begins. */
    private readonly retire: (lease: Lease) => void,
    /** A slice is kept idle only while its free room is at most this share of what remains (Lease.worthKeeping). */
    private readonly share: number,
  ) {}

  /**
   * A lease left with no call in flight: returned now when it takes no new holds (or nothing is kept), else once it
   * has stayed idle for idleMs, checked by one timer per lease.
   */
  whenIdle(lease: Lease): void {
    if (!lease.idle()) return;
    if (lease.closing || this.idleMs === 0 || !lease.worthKeeping(this.share)) {
      this.now(lease);
      return;
    }
    lease.idleSince = performance.now();
    if (lease.idleTimer) return;
    const check = () => {
      lease.idleTimer = undefined;
      if (!lease.idle()) return;
      const left = lease.idleSince + this.idleMs - performance.now();
      if (left > 0) lease.idleTimer = setTimeout(check, left).unref();
      else this.now(lease);
    };
    lease.idleTimer = setTimeout(check, this.idleMs).unref();
  }

  /** A lease with no call in flight and none coming returns its rest now. */
  now(lease: Lease): void {
    if (!lease.idle()) return;
    lease.returned = true;
    clearTimeout(lease.idleTimer);
    this.retire(lease);
    const inFlight = this.returning.get(lease.key) ?? new Set<Promise<void>>();
    this.returning.set(lease.key, inFlight);
    // Best effort: a slice left behind expires like a dead instance's.
    const done: Promise<void> = this.transact((trx) => this.returnIn(trx, lease))
      .catch(() => undefined)
      .finally(() => {
        inFlight.delete(done);
        if (inFlight.size === 0 && this.returning.get(lease.key) === inFlight) this.returning.delete(lease.key);
      });
    inFlight.add(done);
  }

  /** What ends once the grant's returns in flight have ended; undefined when there are none. */
  inFlight(key: string): Promise<unknown> | undefined {
    const inFlight = this.returning.get(key);
    return inFlight && Promise.all(inFlight);
  }

  /** Once every return begun so far has ended. */
  async done(): Promise<void> {
    await Promise.all([...this.returning.values()].flatMap((inFlight) => [...inFlight]));
  }

  /** Shutdown: from now on an idle slice goes back at once. */
  stopKeeping(): void {
    this.idleMs = 0;
  }

  /** An idle slice's rest (its spent room with it) goes back: the budget row locked first (the lock order), then the slice deleted. */
  private async returnIn(trx: Kysely<Database>, lease: Lease): Promise<void> {
    const { user_id: userId, client_id: clientId } = lease.row;
    await this.rows.lock(trx, userId, clientId);
    const rest = (await this.rows.statements.deleteLease(trx, { id: lease.id })).rows[0];
    if (rest) await this.rows.statements.settle(trx, { userId, clientId, heldTokens: Number(rest.tokens), heldImages: Number(rest.images), spentTokens: 0, spentImages: 0, now: this.clock() });
  }
}
