import type { Kysely } from 'kysely';
import { sortableId } from '../security/secrets.js';
import type { Batch, Lead, Transactor } from '../storage/group-commit.js';
import { grantKey } from '../storage/invalidations.js';
import type { Database, OAuthBudgetsTable } from '../storage/schema.js';
import { current, stateOf, type BudgetRows } from './budget-rows.js';
import { spendLeasedOn } from './budget-statements.js';
import type { BudgetState, Cost, Planned, Reservation } from './budgets.js';
import { Lease, ZERO, consumed, lessReserved, minus, plus } from './lease-slice.js';
import { LEASE_IDLE_MS, SliceReturns } from './slice-returns.js';

/** A slice an instance stopped renewing (its process died) is released after this long, as a call's hold is. */
const LEASE_TTL_MS = 10 * 60_000;
/** A slice takes, beyond the call that asked for it, room for at most this many more such calls… */
const SLICE_CALLS = 32;
/** …and at most this share of what would remain, so slices shrink as the remainder nears zero. */
const SLICE_SHARE = 8;
/**
 * A settlement renews its slice's row (and sees that it is still there) when it was last renewed this long ago: so a
 * slice in use lives on as its calls end, as a call held from it may outlast the first half of its life.
 */
const TOUCH_MS = 60_000;
/** A call held from a lease, settled to what it spent (in the transaction of its usage row). */
export interface LeaseSettlement {
  lease: Lease;
  holdId: string;
  spent: Cost;
  /** What this settlement's last run saw of its slice, taken into the lease once its transaction commits. */
  seen?: Seen;
  /** The budget row as its last run left it, under the row's lock: the lease's view of it once that commits. */
  row?: OAuthBudgetsTable;
}

/** What a settlement's transaction saw of its slice: renewed until, at the budget row's count of releases. */
interface Seen {
  renewedTo: number;
  releasesSeen: number;
}

/** What an extension in flight has taken from its lease: free room for its call, spent room to take off the rows. */
interface Parking {
  room: Cost;
  spent: Cost;
}

type Extended = { kind: 'none' } | { kind: 'refused'; state: BudgetState } | { kind: 'held'; row: OAuthBudgetsTable; cost: Cost; delta: Cost; leaseId: string; alive: boolean; expires: number };

/**
 * Budget leases (SPEC §10; bench/NOTES.md, issue 39): an instance takes a slice of what remains of a grant's
 * budget with one conditional UPDATE (the slice counts in the row's reserved columns, recorded in
 * budget_leases) and holds its calls from it in memory; each call's settlement counts what it spent as used
 * in the transaction of its usage row — one UPDATE of the budget row per usage batch, none of the slice's:
 * the spent room stays reserved in the slice (spentIn) until its next extension takes it off, or until the
 * slice, idle for LEASE_IDLE_MS, is returned. So concurrent calls of one grant
 * write its row once per slice and once per usage batch, not twice per call, and still never spend past the
 * limit together: every hold is inside a slice the database granted under the limit, and spent room is
 * counted twice (never zero times) until it is taken off. A slice takes room for the call that asked plus
 * up to SLICE_CALLS more, never more than 1/SLICE_SHARE of what would remain, and none when the call's cap
 * had to be lowered to fit. Memory serves a hold only while the invalidation feed is fresh, so a changed
 * limit (which closes every instance's lease of the grant) reaches other instances within the feed's delay,
 * as a revocation reaches their token caches; otherwise each hold goes through the database. A slice whose
 * process died expires after LEASE_TTL_MS (each extension renews it, and a settlement once a TOUCH_MS).
 */
export class BudgetLeases implements Batch<LeaseSettlement, BudgetState | null> {
  /** The lease new holds come from, by grant. */
  private readonly open = new Map<string, Lease>();
  private readonly byHold = new Map<string, Lease>();
  /** A grant's extension in flight: concurrent calls wait for it, then try memory again. */
  private readonly extending = new Map<string, Promise<unknown>>();
  private sequence = 0;
  private readonly returns: SliceReturns;

  constructor(
    private readonly rows: BudgetRows,
    private readonly now: () => number,
    private readonly transact: Transactor,
    /** Whether a change of limit made anywhere would have reached this process by now (the invalidation feed). */
    private readonly fresh: () => boolean,
    /** How long an idle slice is kept (LEASE_IDLE_MS); 0: returned as its last call settles. */
    idleMs = LEASE_IDLE_MS,
  ) {
    this.returns = new SliceReturns(rows, now, transact, idleMs, (lease) => this.retire(lease), SLICE_SHARE);
  }

  /**
   * Holds the call's cost, from this instance's slice or a new or larger one; null when the budget does not limit it.
   * `joining`: the call came only because a lease is open or being taken (leasing()); when, after waiting for that
   * extension, no lease is open (it found no budget, or failed), undefined: the caller asks whether there is a budget
   * as any call would, rather than every such call taking a transaction of its own.
   */
  async reserve(userId: string, clientId: string, plan: (state: BudgetState) => Planned, joining = false): Promise<Reservation | null | undefined> {
    const key = grantKey(userId, clientId);
    let waited = false;
    for (;;) {
      const lease = this.open.get(key);
      const now = this.now();
      // Memory only while nothing can have changed unseen: the feed is fresh, the period the same, the slice far from expiring.
      if (lease && this.fresh() && current(lease.row, now) && now < lease.expiresAt - LEASE_TTL_MS / 2) {
        const held = this.fromMemory(lease, plan);
        if (held !== 'database') return held;
      }
      const pending = this.extending.get(key);
      if (pending && !waited) {
        waited = true;
        await pending.catch(() => undefined);
        continue;
      }
      if (joining && !lease) return undefined;
      // A return of this instance's slice of the grant in flight: the row the extension reads must have it back.
      // (Checked without a turn of the event loop: between `extending` read above and set below nothing may run.)
      const returning = this.returns.inFlight(key);
      if (returning) {
        await returning;
        continue;
      }
      const extension = this.extend(userId, clientId, plan, lease ?? null);
      this.extending.set(key, extension);
      try {
        return await extension;
      } finally {
        if (this.extending.get(key) === extension) this.extending.delete(key);
      }
    }
  }

  /**
   * Whether this instance holds an open lease of the grant, or is taking one: its budget then needs no read to be
   * known (a call waits for the extension in flight, which reads the row under its lock, instead of each reading it).
   */
  leasing(userId: string, clientId: string): boolean {
    const key = grantKey(userId, clientId);
    return this.open.has(key) || this.extending.has(key);
  }

  /** A hold of this process's leases, by id. */
  holds(holdId: string): boolean {
    return this.byHold.has(holdId);
  }

  settlement(holdId: string, spent: Cost): LeaseSettlement {
    return { lease: this.byHold.get(holdId)!, holdId, spent };
  }

  /** No new holds from these grants' leases (a changed limit, a revoked grant, client or user): the next call reads the row. */
  close(matches: (userId: string, clientId: string) => boolean): void {
    for (const [key, lease] of this.open) {
      const [userId, clientId] = [lease.row.user_id, lease.row.client_id];
      if (!matches(userId, clientId)) continue;
      lease.closing = true;
      this.open.delete(key);
      this.returns.now(lease);
    }
  }

  /**
   * Returns this instance's idle slice of the grant now, so a read of its budget here sees no room reserved for
   * calls that have ended. True when it returned one.
   */
  async returnIdle(userId: string, clientId: string): Promise<boolean> {
    const key = grantKey(userId, clientId);
    const lease = this.open.get(key);
    if (lease) this.returns.now(lease);
    const returning = this.returns.inFlight(key);
    if (!returning) return false;
    await returning;
    return true;
  }

  /** Shutdown: every idle slice goes back (a slice with calls in flight goes back with its last settlement). */
  async returnAll(): Promise<void> {
    this.returns.stopKeeping();
    for (const lease of this.open.values()) this.returns.now(lease);
    await this.returns.done();
  }

  /** Once every return of a slice begun so far has ended. */
  returnsDone(): Promise<void> {
    return this.returns.done();
  }

  private fromMemory(lease: Lease, plan: (state: BudgetState) => Planned): Reservation | null | 'database' {
    const free = lease.free();
    const { row } = lease;
    // Planned on what the slice can hold as it is: a call that needs more goes to the row.
    const cost = plan({ ...stateOf(row), tokensRemaining: row.tokens_limit === null ? null : free.tokens, imagesRemaining: row.images_limit === null ? null : free.images });
    if (cost === null) return null;
    // What the slice cannot hold unchanged (or a cap lowered to fit it) is planned again on the row itself.
    if (cost === 'refuse' || cost.shaped || cost.tokens > free.tokens || cost.images > free.images) return 'database';
    const id = `lease:${++this.sequence}`;
    lease.hold(id, { tokens: cost.tokens, images: cost.images });
    this.byHold.set(id, lease);
    return { kind: 'reserved', id, state: lease.state() };
  }

  /**
   * One transaction under the budget row's lock: the row read, rolled over and (on a refusal) rid of dead holds,
   * the call planned on what remains plus this lease's free room, and the slice grown (or taken) to hold it and
   * its slack — or shrunk, when a lowered limit left less than the slice holds.
   */
  private async extend(userId: string, clientId: string, plan: (state: BudgetState) => Planned, lease: Lease | null): Promise<Reservation | null> {
    // The free room this extension takes from its lease, and the spent room it takes off the rows: set inside
    // the transaction, under the row's lock (and again if group commit runs it a second time); the room comes
    // back to the lease when the extension ends, the spent room only if it did not grow the slice.
    const parking: Parking = { room: ZERO, spent: ZERO };
    const unpark = () => {
      if (lease) lease.parked = minus(lease.parked, parking.room);
      parking.room = ZERO;
    };
    const giveBack = () => {
      unpark();
      if (lease) lease.spentIn = plus(lease.spentIn, parking.spent);
      parking.spent = ZERO;
    };
    if (lease) lease.extensions++;
    try {
      const done = await this.transact((trx) => this.extendIn(trx, userId, clientId, plan, lease, parking, giveBack));
      if (done.kind === 'held' && done.alive) parking.spent = ZERO;
      if (done.kind === 'none') return null;
      if (done.kind === 'refused') return { kind: 'refused', state: done.state };
      let target = lease;
      if (lease && done.alive) {
        lease.granted = plus(lease.granted, done.delta);
        lease.row = done.row;
        lease.releasesSeen = done.row.slices_released;
      } else {
        if (lease) this.retire(lease);
        target = new Lease(done.leaseId, grantKey(userId, clientId), done.delta, done.row);
        this.open.set(target.key, target);
      }
      target!.expiresAt = done.expires;
      target!.touchedAt = done.expires - LEASE_TTL_MS;
      const id = `lease:${++this.sequence}`;
      // The new hold goes in as the parked room comes out: nothing between could see the slice idle.
      target!.hold(id, done.cost);
      unpark();
      this.byHold.set(id, target!);
      return { kind: 'reserved', id, state: target!.state() };
    } finally {
      giveBack();
      if (lease) {
        lease.extensions--;
        // It held nothing there (or moved to a new slice): the slice may be idle now.
        this.returns.whenIdle(lease);
      }
    }
  }

  /** A lease that takes no new holds. */
  private retire(lease: Lease): void {
    lease.closing = true;
    if (this.open.get(lease.key) === lease) this.open.delete(lease.key);
  }

  private async extendIn(trx: Kysely<Database>, userId: string, clientId: string, plan: (state: BudgetState) => Planned, lease: Lease | null, parking: Parking, unpark: () => void): Promise<Extended> {
    const { rows } = this;
    const now = this.now();
    unpark();
    await rows.lock(trx, userId, clientId);
    let row = await rows.row(trx, userId, clientId);
    if (!row) return { kind: 'none' };
    row = (await rows.rollOver(trx, row, now)) ?? row;
    const leaseAlive = async () => lease !== null && (await rows.statements.leaseRow(trx, { id: lease.id })).rows.length === 1;
    let alive = await leaseAlive();
    // Taken now, under the lock: every room this slice has free, and what its committed settlements spent of it
    // (none of either, when it was released as expired).
    let mine = alive ? lease!.free() : ZERO;
    let spent = alive ? lease!.spentIn : ZERO;
    if (alive) {
      lease!.parked = plus(lease!.parked, mine);
      parking.room = mine;
      lease!.spentIn = minus(lease!.spentIn, spent);
      parking.spent = spent;
    }
    // What this call may use: what no one holds, and this slice's own free room (its spent room is used already).
    const stateNow = (r: OAuthBudgetsTable) => stateOf({ ...r, tokens_reserved: r.tokens_reserved - mine.tokens - spent.tokens, images_reserved: r.images_reserved - mine.images - spent.images });
    let cost = plan(stateNow(row));
    if (cost === 'refuse' && (await rows.releaseStale(trx, userId, clientId, now))) {
      row = (await rows.row(trx, userId, clientId))!;
      // This very slice may have been the stale one: its room came off the row with it, so it is no longer ours.
      if (alive && !(await leaseAlive())) {
        unpark();
        alive = false;
        mine = ZERO;
        spent = ZERO;
      }
      cost = plan(stateNow(row));
    }
    if (cost === null) return { kind: 'none' };
    if (cost === 'refuse') return { kind: 'refused', state: stateNow(row) };
    const state = stateNow(row);
    const slack = (limited: number | null, call: number) => (limited === null || call === 0 || cost.shaped ? 0 : Math.max(0, Math.min(SLICE_CALLS * call, Math.floor((limited - call) / SLICE_SHARE))));
    const want = { tokens: cost.tokens + slack(state.tokensRemaining, cost.tokens), images: cost.images + slack(state.imagesRemaining, cost.images) };
    const delta = minus(want, mine);
    // The slice's spent room comes off the row and the slice as it grows (or shrinks) to what the call wants.
    const net = minus(delta, spent);
    const held = (await rows.statements.hold(trx, { userId, clientId, tokens: net.tokens, images: net.images, now })).rows[0];
    // Under the row's lock the plan fitted what the row holds; a miss is another writer this lock did not order (none known).
    if (!held) return { kind: 'refused', state };
    const expires = now + LEASE_TTL_MS;
    if (alive) {
      await rows.statements.growLease(trx, { id: lease!.id, tokens: net.tokens, images: net.images, expires });
      return { kind: 'held', row: held, cost: { tokens: cost.tokens, images: cost.images }, delta, leaseId: lease!.id, alive, expires };
    }
    const id = sortableId('lse_', now);
    await rows.statements.insertLease(trx, { id, userId, clientId, tokens: want.tokens, images: want.images, now, expires });
    return { kind: 'held', row: held, cost: { tokens: cost.tokens, images: cost.images }, delta: want, leaseId: id, alive: false, expires };
  }

  /**
   * Settles calls held from leases in the caller's transaction (their usage rows' batch): per lease, in lock
   * order, one UPDATE of the budget row (what was spent goes on); the slice stays (whenIdle returns it). May run
   * again after a rollback.
   */
  async run(trx: Kysely<Database>, items: readonly LeaseSettlement[], lead?: Lead): Promise<Array<BudgetState | null>> {
    const byLease = new Map<Lease, LeaseSettlement[]>();
    for (const item of items) byLease.set(item.lease, [...(byLease.get(item.lease) ?? []), item]);
    const states = new Map<Lease, BudgetState | null>();
    const now = this.now();
    for (const lease of [...byLease.keys()].sort((a, b) => (a.key === b.key ? (a.id < b.id ? -1 : 1) : a.key < b.key ? -1 : 1))) {
      const mine = byLease.get(lease)!;
      let [spent, held, moved] = [ZERO, ZERO, ZERO];
      for (const item of mine) {
        const hold = lease.holds.get(item.holdId) ?? ZERO;
        spent = plus(spent, item.spent);
        held = plus(held, hold);
        moved = plus(moved, consumed(hold, item.spent));
      }
      const settled = await this.settleLease(trx, lease, spent, moved, minus(held, moved), now, lead);
      states.set(lease, settled.state);
      // Set on every run: a run again after a rollback keeps nothing of the first one's.
      for (const item of mine) {
        item.seen = settled.seen;
        item.row = settled.row;
      }
    }
    return items.map((item) => states.get(item.lease) ?? null);
  }

  /** `freed`: what the settled calls held and did not spend, free room of the slice once this commits (what they report counts it). */
  private async settleLease(trx: Kysely<Database>, lease: Lease, spent: Cost, moved: Cost, freed: Cost, now: number, lead?: Lead): Promise<{ state: BudgetState | null; seen?: Seen; row?: OAuthBudgetsTable }> {
    const { rows } = this;
    const { user_id: userId, client_id: clientId } = lease.row;
    const spend = { userId, clientId, tokens: spent.tokens, images: spent.images, now };
    let row: OAuthBudgetsTable | undefined;
    // The first lease's UPDATE carries the usage rows' INSERT when offered (set before it runs: a failure rolls back both).
    if (lead && !lead.carried) {
      lead.carried = true;
      row = await spendLeasedOn(lead.db, spend).executeTakeFirst();
    } else row = (await rows.statements.spendLeased(trx, spend)).rows[0];
    if (!row) return { state: null };
    const there = await this.stillThere(trx, lease, row, now);
    // Released as expired meanwhile (by an instance that took this one for dead), its room with it: the spending
    // counts all the same, and no call holds from it in memory any more.
    const gone = there === 'gone';
    if (gone) this.retire(lease);
    await rows.thresholds(trx, row);
    // Unless it is gone, the row still reserves of the slice what its calls spent (earlier settlements' and this
    // one's) and what this one's held and did not spend.
    return { state: lease.state(row, gone ? ZERO : plus(plus(lease.spentIn, moved), freed)), seen: gone ? undefined : there, row };
  }

  /**
   * Whether the slice is still there, the budget row just settled under its lock: asked of the slice's own row (and
   * the slice renewed) only when a slice of the grant was released since this one was last seen — the row's count,
   * as committed when the lock was taken, says so exactly — or when a renewal is due (TOUCH_MS). 'gone', or what
   * the transaction saw and renewed, for the lease to take once it commits (the count may hold another job's bump
   * that rolls back with it; the renewal may roll back).
   */
  private async stillThere(trx: Kysely<Database>, lease: Lease, row: OAuthBudgetsTable, now: number): Promise<'gone' | Seen | undefined> {
    if (row.slices_released === lease.releasesSeen && now - lease.touchedAt < TOUCH_MS) return undefined;
    // A statement of its own, after the lock: it sees every release committed before it.
    const renewed = await this.rows.statements.touchLease(trx, { id: lease.id, expires: now + LEASE_TTL_MS });
    if (renewed.rows.length === 0) return 'gone';
    return { renewedTo: now + LEASE_TTL_MS, releasesSeen: row.slices_released };
  }

  /** After the commit: the settled holds leave their lease, and what they spent of it is no longer free room but spent. */
  committed(items: readonly LeaseSettlement[]): void {
    /** Each lease's row as its settlements left it (undefined where the budget had gone). */
    const latest = new Map<Lease, OAuthBudgetsTable | undefined>();
    for (const { lease, holdId, spent, seen, row } of items) {
      const used = consumed(lease.release(holdId), spent);
      lease.granted = minus(lease.granted, used);
      lease.spentIn = plus(lease.spentIn, used);
      if (seen) {
        lease.expiresAt = Math.max(lease.expiresAt, seen.renewedTo);
        lease.touchedAt = Math.max(lease.touchedAt, seen.renewedTo - LEASE_TTL_MS);
        // Counts only grow: a transaction that committed later may have seen the slice at a higher one.
        lease.releasesSeen = Math.max(lease.releasesSeen, seen.releasesSeen);
      }
      latest.set(lease, row ?? latest.get(lease));
      this.byHold.delete(holdId);
    }
    for (const [lease, row] of latest) {
      // Fresher than the extension's, as an extension would see it (the spent room it takes off taken off): what an
      // idle slice is judged on (worthKeeping) and calls held from memory report.
      if (row && !lease.closing) lease.row = lessReserved(row, lease.spentIn);
      this.returns.whenIdle(lease);
    }
  }

  /** Their transaction failed: the holds leave their lease all the same (its slice keeps their room until it is returned or expires). */
  failed(items: readonly LeaseSettlement[]): void {
    for (const item of items) {
      item.lease.release(item.holdId);
      this.byHold.delete(item.holdId);
    }
    for (const lease of new Set(items.map((item) => item.lease))) this.returns.whenIdle(lease);
  }
}
