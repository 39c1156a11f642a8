import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/accounts/users-service.js';
import { ClientsService } from '../../src/clients/service.js';
import { BudgetRows } from '../../src/consent/budget-rows.js';
import { budgetStatements } from '../../src/consent/budget-statements.js';
import type { BudgetLimit } from '../../src/consent/budget-rules.js';
import { BudgetsService, type BudgetState, type Reservation } from '../../src/consent/budgets.js';
import { GrantsService } from '../../src/consent/grants.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { ownTransaction, type Transactor } from '../../src/storage/group-commit.js';
import { InvalidationFeed } from '../../src/storage/invalidations.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

type Held = Extract<Reservation, { kind: 'reserved' }>;

/** Budget leases (src/consent/budget-leases.ts): one slice per instance and grant, never past the limit, closed by a change made anywhere. */
describe.each(DIALECTS)('budget leases (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  const feeds: InvalidationFeed[] = [];
  let userId: string;
  let clientId: string;
  /**
   * An instance: budgets told of changes by a feed of its own (its transactions through `transact`); an idle slice is
   * returned at once unless `idleMs` says how long to keep it.
   */
  const instance = async (now: () => number = Date.now, transact: Transactor = ownTransaction(storage.db), idleMs = 0) => {
    const feed = new InvalidationFeed(storage);
    await feed.start();
    feeds.push(feed);
    const budgets = new BudgetsService(storage.db, now, transact, dialect === 'postgres', null, null, feed, idleMs);
    everyInstance.push(budgets);
    return { feed, budgets };
  };
  const everyInstance: BudgetsService[] = [];
  /** The rows as they stand once the slice returns every instance has begun have ended (nobody's answer waits for them). */
  const returnsDone = () => Promise.all(everyInstance.map((budgets) => budgets.returnsDone()));
  const row = async () => (await returnsDone(), storage.db.selectFrom('oauth_budgets').select(['tokens_used', 'tokens_reserved']).where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirstOrThrow());
  const slices = async () => (await returnsDone(), (await storage.db.selectFrom('budget_leases').select('tokens').where('user_id', '=', userId).execute()).map((s) => Number(s.tokens)).sort((a, b) => a - b));
  const tokens = (n: number) => () => ({ tokens: n, images: 0 });
  /** Planned as a call is (budget-guard.ts): refused when it does not fit what remains. */
  const fits = (n: number) => (state: BudgetState) => (state.tokensRemaining !== null && state.tokensRemaining < n ? ('refuse' as const) : { tokens: n, images: 0 });
  /** A call held from the grant's budget (`held` tokens) that spends `spent`: what it reports once settled. */
  const callOf = async (budgets: BudgetsService, held: number, spent: number) => budgets.settle(((await budgets.reserve(userId, clientId, tokens(held))) as Held).id, userId, clientId, { tokens: spent, images: 0 });
  /** One instance that keeps an idle slice a minute, the grant limited as given (read back by its feed). */
  const keeping = async (limit: BudgetLimit) => {
    const side = await instance(Date.now, ownTransaction(storage.db), 60_000);
    await side.budgets.set(userId, clientId, limit);
    await side.feed.catchUp();
    return side;
  };
  /** The grant limited to 1,000 tokens in all, set through the first instance and read back by every one's feed. */
  const limitTo1000 = async (...sides: Array<Awaited<ReturnType<typeof instance>>>) => {
    await sides[0]!.budgets.set(userId, clientId, { tokens: 1_000, images: null, period: 'total' });
    await Promise.all(sides.map((side) => side.feed.catchUp()));
  };
  /** Two instances on a clock the test moves (`clock.at(ms)`: that long after the start), the grant limited to 1,000 tokens in all. */
  const twoInstances = async () => {
    const start = Date.now();
    let t = start;
    const now = () => t;
    const a = await instance(now);
    const b = await instance(now);
    await limitTo1000(a, b);
    return { a, b, clock: { at: (ms: number) => void (t = start + ms) } };
  };

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    userId = (await new UsersService(storage.db).create({ username: `lease_${dialect}`, password: 'password123' })).id;
    clientId = (await new ClientsService(storage.db).create(userId, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['generations'] })).clientId;
    await new GrantsService(storage.db).allow(userId, clientId, ['generations']);
  });
  afterAll(async () => {
    for (const feed of feeds) await feed.stop();
    await storage?.close();
    await database?.cleanup();
  });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('concurrent calls of one grant hold from one slice; the last settlement returns its rest', async () => {
      const { budgets, feed } = await instance();
      await budgets.set(userId, clientId, { tokens: 1_000_000, images: null, period: 'month' });
      // The change read back: had it come in later, it would close the lease the calls below open.
      await feed.catchUp();
      const held = (await Promise.all(Array.from({ length: 10 }, () => budgets.reserve(userId, clientId, tokens(100))))) as Held[];
      expect(held.map((r) => r.kind)).toEqual(Array(10).fill('reserved'));
      // One slice: room for the first call and 32 more like it, all of it reserved on the row.
      expect(await slices()).toEqual([100 + 32 * 100]);
      expect(await row()).toMatchObject({ tokens_used: 0, tokens_reserved: 3_300 });
      await Promise.all(held.slice(0, 9).map((r) => budgets.settle(r.id, userId, clientId, { tokens: 40, images: 0 })));
      // Settlements write the budget row only: what they spent is used, and stays reserved in the slice until it is taken off.
      expect(await slices()).toEqual([3_300]);
      expect(await row()).toMatchObject({ tokens_used: 360, tokens_reserved: 3_300 });
      await budgets.settle(held[9]!.id, userId, clientId, { tokens: 40, images: 0 });
      expect(await slices()).toEqual([]);
      expect(await row()).toMatchObject({ tokens_used: 400, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('the room settled calls spent comes off the row and the slice at its next extension, never counted zero times', async () => {
      const { budgets, feed } = await instance();
      await budgets.set(userId, clientId, { tokens: 1_000, images: null, period: 'total' });
      await feed.catchUp();
      const first = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      const second = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      expect(await slices()).toEqual([100 + Math.floor(900 / 8)]);
      // One call settles (all it held spent) while another is in flight: used, and still reserved in the slice.
      const settled = await budgets.settle(first.id, userId, clientId, { tokens: 100, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 100, tokens_reserved: 212 });
      // What the call reports counts its spending once: 1000 − 100 used − the 100 the other call holds.
      expect(settled).toMatchObject({ tokensUsed: 100, tokensRemaining: 800 });
      // 12 free in the slice: the next call extends it, planned on 1000 − 100 used − 100 held, the spent 100 taken off.
      const third = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      expect(third.kind).toBe('reserved');
      expect(await slices()).toEqual([200 + Math.floor(700 / 8)]);
      expect(await row()).toMatchObject({ tokens_used: 100, tokens_reserved: 200 + Math.floor(700 / 8) });
      // One token over what remains (1000 − 100 used − 200 held) is refused.
      expect((await budgets.reserve(userId, clientId, tokens(701)))!.kind).toBe('refused');
      for (const r of [second, third]) await budgets.settle(r.id, userId, clientId, { tokens: 100, images: 0 });
      expect(await slices()).toEqual([]);
      expect(await row()).toMatchObject({ tokens_used: 300, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('what a read of the budget sees of a slice\'s spent room: reserved too until the slice extends — less room than there is, never more', async () => {
      const { a, b } = await twoInstances();
      const first = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      const second = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      await a.budgets.settle(first.id, userId, clientId, { tokens: 100, images: 0 });
      // 1000 − 100 used − 212 A's slice still reserves (100 held, 12 free, 100 spent): 100 less than the 788 there is.
      for (const side of [a, b]) expect((await side.budgets.get(userId, clientId))!.tokensRemaining).toBe(688);
      const own = (await a.budgets.reserve(userId, clientId, fits(700))) as Held;
      expect(own.kind).toBe('reserved');
      expect((await b.budgets.get(userId, clientId))!.tokensRemaining).toBeLessThanOrEqual(1_000 - 100 - 100 - 700);
      for (const r of [second, own]) await a.budgets.settle(r.id, userId, clientId, { tokens: 0, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 100, tokens_reserved: 0 });
      await a.budgets.set(userId, clientId, null);
    });

    it('a call held from memory late in its slice\'s first half stays covered while the slice\'s other calls settle (a settlement renews it once a minute)', async () => {
      const { a, b, clock } = await twoInstances();
      const first = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      clock.at(4.9 * 60_000);
      const long = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      expect(long.kind).toBe('reserved');
      expect(await slices()).toEqual([100 + Math.floor(900 / 8)]);
      await a.budgets.settle(first.id, userId, clientId, { tokens: 100, images: 0 });
      // 10.1 minutes after the slice was taken, the long call still running: its room is still reserved.
      clock.at(10.1 * 60_000);
      const big = await b.budgets.reserve(userId, clientId, fits(801));
      expect(big!.kind).toBe('refused');
      await a.budgets.settle(long.id, userId, clientId, { tokens: 100, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 200, tokens_reserved: 0 });
      await a.budgets.set(userId, clientId, null);
    });

    it('a renewal whose transaction rolled back is not taken as made when group commit runs the settlement again', async () => {
      let t = Date.now();
      const clock = () => t;
      // As group commit does: the first run of a marked transaction rolls back (another job failed), then it runs again alone.
      let rerunNext = false;
      const transact: Transactor = async (work) => {
        if (rerunNext) {
          rerunNext = false;
          await storage.db
            .transaction()
            .execute(async (trx) => {
              await work(trx);
              throw new Error('another job of the group failed');
            })
            .catch(() => undefined);
        }
        return storage.db.transaction().execute(work);
      };
      const a = await instance(clock, transact);
      const b = await instance(clock);
      await limitTo1000(a, b);
      const t0 = t;
      const first = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      const second = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      t = t0 + 4.9 * 60_000;
      rerunNext = true;
      await a.budgets.settle(first.id, userId, clientId, { tokens: 100, images: 0 });
      // The run again renewed the slice's row itself.
      const expires = Number((await storage.db.selectFrom('budget_leases').select('expires_at').where('user_id', '=', userId).executeTakeFirstOrThrow()).expires_at);
      expect(expires).toBe(t0 + 14.9 * 60_000);
      t = t0 + 9.8 * 60_000;
      const third = (await a.budgets.reserve(userId, clientId, fits(10))) as Held;
      expect(third.kind).toBe('reserved');
      // 10.1 minutes after the slice was taken it is still A's: B finds 1000 − 100 used − 212 A reserves.
      t = t0 + 10.1 * 60_000;
      expect((await b.budgets.reserve(userId, clientId, fits(800)))!.kind).toBe('refused');
      for (const [r, spent] of [[second, 100], [third, 10]] as const) await a.budgets.settle(r.id, userId, clientId, { tokens: spent, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 210, tokens_reserved: 0 });
      await a.budgets.set(userId, clientId, null);
    });

    it('a group rolled back, then run job by job: the first settlement again does not return the slice while its sibling is still to run', async () => {
      // As group commit does: both settlements in one transaction that rolls back (a third job failed), then each again alone.
      type Job = { work: Parameters<Transactor>[0]; resolve: (value: unknown) => void };
      const queued: Job[] = [];
      let grouping = false;
      const transact = ((work: Job['work']) => (grouping ? new Promise<unknown>((resolve) => queued.push({ work, resolve })) : storage.db.transaction().execute(work))) as Transactor;
      const a = await instance(Date.now, transact);
      const b = await instance();
      await limitTo1000(a, b);
      const first = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      const second = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      expect(await slices()).toEqual([212]);
      grouping = true;
      const settled = [first, second].map((r) => a.budgets.settle(r.id, userId, clientId, { tokens: 100, images: 0 }));
      await until(() => queued.length === 2, { message: 'both settlements to be queued' });
      grouping = false;
      await storage.db
        .transaction()
        .execute(async (trx) => {
          for (const job of queued) await job.work(trx);
          throw new Error('a third job of the group failed');
        })
        .catch(() => undefined);
      const [one, two] = queued as [Job, Job];
      one.resolve(await storage.db.transaction().execute(one.work));
      await settled[0];
      // The second call spent its 100, its settlement not committed yet: the row still reserves the slice.
      expect(await row()).toMatchObject({ tokens_used: 100, tokens_reserved: 212 });
      expect((await b.budgets.reserve(userId, clientId, fits(850)))!.kind).toBe('refused');
      two.resolve(await storage.db.transaction().execute(two.work));
      await settled[1];
      expect(await row()).toMatchObject({ tokens_used: 200, tokens_reserved: 0 });
      expect(await slices()).toEqual([]);
      await a.budgets.set(userId, clientId, null);
    });

    it('the holder\'s budget_remaining is never more than there is when another instance released its slice', async () => {
      const { a, b, clock } = await twoInstances();
      const first = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      const second = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      await a.budgets.settle(first.id, userId, clientId, { tokens: 100, images: 0 });
      // A's slice outlives its row (A's clock behind B's, say): B releases it and takes most of what remains.
      clock.at(10.1 * 60_000);
      const big = (await b.budgets.reserve(userId, clientId, fits(800))) as Held;
      expect(big.kind).toBe('reserved');
      const r = await row();
      const truth = 1_000 - Number(r.tokens_used) - Number(r.tokens_reserved);
      for (const side of [a, b]) expect((await side.budgets.get(userId, clientId))!.tokensRemaining).toBeLessThanOrEqual(truth);
      await a.budgets.settle(second.id, userId, clientId, { tokens: 100, images: 0 });
      await b.budgets.settle(big.id, userId, clientId, { tokens: 0, images: 0 });
      await a.budgets.set(userId, clientId, null);
    });

    it('a slice whose budget was removed and set again, unannounced, is seen gone at its next settlement', async () => {
      const a = await instance();
      await limitTo1000(a);
      const first = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      const second = (await a.budgets.reserve(userId, clientId, fits(100))) as Held;
      // Removed (its slice with it, by cascade) and set again by a service with no feed: A is told nothing.
      const quiet = new BudgetsService(storage.db);
      await quiet.set(userId, clientId, null);
      await quiet.set(userId, clientId, { tokens: 1_000, images: null, period: 'total' });
      expect(await slices()).toEqual([]);
      await a.budgets.settle(first.id, userId, clientId, { tokens: 100, images: 0 });
      // A's memory would still hold 12: the call goes to the row, under a slice of its own.
      const next = (await a.budgets.reserve(userId, clientId, fits(10))) as Held;
      expect(next.kind).toBe('reserved');
      expect((await slices()).length).toBe(1);
      for (const r of [second, next]) await a.budgets.settle(r.id, userId, clientId, { tokens: 10, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 120, tokens_reserved: 0 });
      expect(await slices()).toEqual([]);
      await a.budgets.set(userId, clientId, null);
    });

    it('a grant found without a budget is so only until a limit is set: at once on that instance, on another once its feed reads the change', async () => {
      const a = await instance();
      const b = await instance();
      await Promise.all([a.feed.catchUp(), b.feed.catchUp()]);
      for (let i = 0; i < 3; i++) expect(await a.budgets.reserve(userId, clientId, tokens(100))).toBeNull();
      expect(await b.budgets.reserve(userId, clientId, tokens(100))).toBeNull();
      await b.budgets.set(userId, clientId, { tokens: 50, images: null, period: 'total' });
      expect((await b.budgets.reserve(userId, clientId, tokens(100)))!.kind).toBe('refused');
      await a.feed.catchUp();
      expect((await a.budgets.reserve(userId, clientId, tokens(100)))!.kind).toBe('refused');
      // Removed: neither limits the call any more.
      await a.budgets.set(userId, clientId, null);
      await b.feed.catchUp();
      expect(await a.budgets.reserve(userId, clientId, tokens(100))).toBeNull();
      expect(await b.budgets.reserve(userId, clientId, tokens(100))).toBeNull();
    });

    it('a limit whose announcement never came is still obeyed within about a second (a grant without a budget is read again)', async () => {
      const a = await instance();
      await a.feed.catchUp();
      expect(await a.budgets.reserve(userId, clientId, tokens(100))).toBeNull();
      // Written by a service with no feed: the change is announced to nobody.
      await new BudgetsService(storage.db).set(userId, clientId, { tokens: 50, images: null, period: 'total' });
      const set = Date.now();
      await until(async () => (await a.budgets.reserve(userId, clientId, tokens(100)))?.kind === 'refused', { timeoutMs: 3000, message: 'the unannounced limit to be obeyed' });
      expect(Date.now() - set).toBeLessThan(1_500);
      await a.budgets.set(userId, clientId, null);
    });

    it('a grant remembered with a budget that was removed unannounced limits nothing: its extension reads the row', async () => {
      const a = await instance();
      await limitTo1000(a);
      const held = (await a.budgets.reserve(userId, clientId, tokens(100))) as Held;
      await a.budgets.settle(held.id, userId, clientId, { tokens: 100, images: 0 });
      // Removed by a service with no feed: A still takes the grant for budgeted, and its slice was returned.
      await new BudgetsService(storage.db).set(userId, clientId, null);
      expect(await a.budgets.reserve(userId, clientId, tokens(5_000))).toBeNull();
      expect(await slices()).toEqual([]);
    });

    it('calls that waited for an extension which found the budget removed ask whether there is one, rather than each extending', async () => {
      const a = await instance();
      await a.budgets.set(userId, clientId, { tokens: 10_000, images: null, period: 'month' });
      await a.feed.catchUp();
      // An instance whose transactions (its extensions) wait at a gate, and count.
      let extensions = 0;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const transact: Transactor = async (work) => {
        extensions++;
        await gate;
        return storage.db.transaction().execute(work);
      };
      const { feed, budgets: gated } = await instance(Date.now, transact);
      const first = gated.reserve(userId, clientId, tokens(100));
      await until(async () => extensions === 1, { timeoutMs: 2000, message: 'the first call to start its extension' });
      const waiting = Array.from({ length: 5 }, () => gated.reserve(userId, clientId, tokens(100)));
      await a.budgets.set(userId, clientId, null);
      await feed.catchUp();
      open();
      expect(await first).toBeNull();
      expect(await Promise.all(waiting)).toEqual(Array(5).fill(null));
      expect(extensions).toBe(1);
    });

    it('slices shrink as the remainder nears zero: an eighth of what would remain, then only the call', async () => {
      const { budgets, feed } = await instance();
      await budgets.set(userId, clientId, { tokens: 1_000, images: null, period: 'total' });
      await feed.catchUp();
      const first = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      expect(await slices()).toEqual([100 + Math.floor(900 / 8)]);
      const second = (await budgets.reserve(userId, clientId, tokens(800))) as Held;
      expect(await slices()).toEqual([100 + 800 + Math.floor(100 / 8)]);
      const third = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      expect([first.kind, second.kind, third.kind]).toEqual(['reserved', 'reserved', 'reserved']);
      expect(await slices()).toEqual([1_000]);
      expect((await budgets.reserve(userId, clientId, tokens(1)))!.kind).toBe('refused');
      for (const r of [first, second, third]) await budgets.settle(r.id, userId, clientId, { tokens: 0, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 0, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('a limit lowered on another instance closes this one\'s slice: the next call is planned on the row', async () => {
      const a = await instance();
      const b = await instance();
      await a.budgets.set(userId, clientId, { tokens: 10_000, images: null, period: 'month' });
      await Promise.all([a.feed.catchUp(), b.feed.catchUp()]);
      const inFlight = [(await a.budgets.reserve(userId, clientId, tokens(100))) as Held];
      // The second from the same slice, which had room.
      inFlight.push((await a.budgets.reserve(userId, clientId, tokens(100))) as Held);
      expect(inFlight.map((r) => r.kind)).toEqual(['reserved', 'reserved']);
      expect((await slices()).length).toBe(1);
      await b.budgets.set(userId, clientId, { tokens: 150, images: null, period: 'month' });
      await a.feed.catchUp();
      // The slice still has room for this call; the row, under the new limit, has none.
      expect((await a.budgets.reserve(userId, clientId, tokens(100)))!.kind).toBe('refused');
      for (const r of inFlight) await a.budgets.settle(r.id, userId, clientId, { tokens: 50, images: 0 });
      expect(await slices()).toEqual([]);
      expect((await a.budgets.reserve(userId, clientId, tokens(51)))!.kind).toBe('refused');
      const last = (await a.budgets.reserve(userId, clientId, tokens(50))) as Held;
      expect(last.kind).toBe('reserved');
      await a.budgets.settle(last.id, userId, clientId, { tokens: 50, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 150, tokens_reserved: 0 });
      await a.budgets.set(userId, clientId, null);
    });

    it('a slice another instance released as expired serves no more calls from memory, its settlements count once', async () => {
      const a = await instance();
      const b = await instance();
      await limitTo1000(a, b);
      const inFlight = [(await a.budgets.reserve(userId, clientId, tokens(100))) as Held, (await a.budgets.reserve(userId, clientId, tokens(100))) as Held];
      expect(await slices()).toEqual([100 + Math.floor(900 / 8)]);
      // A's slice outlived its row's life (its instance looked dead): B, short of room, releases it and takes its own.
      await storage.db.updateTable('budget_leases').set({ expires_at: 0 }).where('user_id', '=', userId).execute();
      // Refused when it does not fit what remains, which releases stale slices first.
      const big = (await b.budgets.reserve(userId, clientId, fits(900))) as Held;
      expect(big.kind).toBe('reserved');
      // A settles one call: its slice is gone, so only what it spent counts, and A holds nothing more from memory.
      await a.budgets.settle(inFlight[0]!.id, userId, clientId, { tokens: 50, images: 0 });
      // A call its memory would still have room for goes to the row, and is held there under a slice of its own.
      const next = (await a.budgets.reserve(userId, clientId, fits(10))) as Held;
      expect(next.kind).toBe('reserved');
      expect((await slices()).length).toBe(2);
      for (const r of [inFlight[1]!, next]) await a.budgets.settle(r.id, userId, clientId, { tokens: 10, images: 0 });
      await b.budgets.settle(big.id, userId, clientId, { tokens: 900, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 970, tokens_reserved: 0 });
      expect(await slices()).toEqual([]);
      await a.budgets.set(userId, clientId, null);
    });

    it('an idle slice is kept a moment: the next call holds from it in memory; it goes back once idle long enough', async () => {
      const { budgets, feed } = await instance(Date.now, ownTransaction(storage.db), 300);
      await budgets.set(userId, clientId, { tokens: 1_000_000, images: null, period: 'month' });
      await feed.catchUp();
      const ids = async () => (await storage.db.selectFrom('budget_leases').select('id').where('user_id', '=', userId).execute()).map((s) => s.id);
      const first = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      const [slice] = await ids();
      await budgets.settle(first.id, userId, clientId, { tokens: 40, images: 0 });
      // Idle, and kept: the call's unspent room is free in it again, as what the call reports says.
      expect(await ids()).toEqual([slice]);
      const second = (await budgets.reserve(userId, clientId, tokens(100))) as Held;
      expect(second.kind).toBe('reserved');
      expect(await ids()).toEqual([slice]);
      expect(await row()).toMatchObject({ tokens_used: 40, tokens_reserved: 3_300 });
      const settledAt = Date.now();
      await budgets.settle(second.id, userId, clientId, { tokens: 40, images: 0 });
      await until(async () => (await ids()).length === 0, { timeoutMs: 3_000, message: 'the idle slice to go back' });
      expect(Date.now() - settledAt).toBeGreaterThanOrEqual(250);
      expect(await row()).toMatchObject({ tokens_used: 80, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('a kept idle slice goes back at once when this instance reads the budget, and when it shuts down', async () => {
      const { budgets } = await keeping({ tokens: 1_000_000, images: null, period: 'month' });
      const once = async () => {
        const state = await callOf(budgets, 100, 10);
        expect(await slices()).toEqual([3_300]);
        return state;
      };
      const reported = await once();
      // What the call reports counts the slice's rest as remaining; a read here returns the rest, and is as exact.
      expect(reported).toMatchObject({ tokensUsed: 10, tokensRemaining: 1_000_000 - 10 });
      expect(await budgets.get(userId, clientId)).toMatchObject({ tokensUsed: 10, tokensReserved: 0, tokensRemaining: 1_000_000 - 10 });
      expect(await slices()).toEqual([]);
      await once();
      await budgets.close();
      expect(await slices()).toEqual([]);
      expect(await row()).toMatchObject({ tokens_used: 20, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('an idle slice is kept only while its free room is at most an eighth of what remains: a call that held much and spent little returns it at once', async () => {
      const { budgets } = await keeping({ tokens: 10_000, images: null, period: 'total' });
      await callOf(budgets, 10, 10);
      // 10 + 32 more like it taken, all 10 spent: 320 free of the 9,980 that remain — kept.
      expect(await slices()).toEqual([10 + 32 * 10]);
      await budgets.get(userId, clientId);
      expect(await slices()).toEqual([]);
      const big = (await budgets.reserve(userId, clientId, tokens(3_000))) as Held;
      expect(await slices()).toEqual([3_000 + Math.floor((9_990 - 3_000) / 8)]);
      await budgets.settle(big.id, userId, clientId, { tokens: 0, images: 0 });
      // 3,873 free of 9,990: more than an eighth, back at once.
      expect(await slices()).toEqual([]);
      expect(await row()).toMatchObject({ tokens_used: 10, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('a slice with an eighth of what remains free is kept: its spent room, still reserved on the row, counted once', async () => {
      const { budgets } = await keeping({ tokens: 500, images: null, period: 'total' });
      await callOf(budgets, 10, 10);
      // 61 free of the 490 that remain (488 ≤ 490): kept, though the row still reserves the 10 spent.
      expect(await slices()).toEqual([10 + Math.floor(490 / 8)]);
      await budgets.set(userId, clientId, null);
    });

    it('a call held from memory after settlements reports what remains, the spent room counted once', async () => {
      const { budgets } = await keeping({ tokens: 1_000_000, images: null, period: 'total' });
      for (let i = 0; i < 10; i++) {
        const held = (await budgets.reserve(userId, clientId, tokens(10))) as Held;
        await budgets.settle(held.id, userId, clientId, { tokens: 10, images: 0 });
      }
      expect(await slices()).toEqual([330]);
      const next = (await budgets.reserve(userId, clientId, tokens(10))) as Held;
      // 1,000,000 − 100 used − the 10 this call holds.
      expect(next.state.tokensRemaining).toBe(999_890);
      await budgets.settle(next.id, userId, clientId, { tokens: 0, images: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('a call coming while its instance\'s slice goes back waits for the return rather than find the room still reserved', async () => {
      // The transaction after the next one (the settlement's) — the slice's return — waits for the gate.
      let skip = -1;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const transact = (async (work: Parameters<Transactor>[0]) => {
        if (skip === 0) {
          skip = -1;
          await gate;
        } else if (skip > 0) skip--;
        return storage.db.transaction().execute(work);
      }) as Transactor;
      const { budgets, feed } = await instance(Date.now, transact, 60_000);
      await budgets.set(userId, clientId, { tokens: 100, images: null, period: 'total' });
      await feed.catchUp();
      const first = (await budgets.reserve(userId, clientId, fits(100))) as Held;
      skip = 1;
      // Spent 50 of its 100: the 50 left are all that remains, more than an eighth — the slice goes back at once.
      await budgets.settle(first.id, userId, clientId, { tokens: 50, images: 0 });
      const second = budgets.reserve(userId, clientId, fits(50));
      await new Promise((resolve) => setTimeout(resolve, 100));
      open();
      const held = (await second)!;
      expect(held.kind).toBe('reserved');
      await budgets.settle((held as Held).id, userId, clientId, { tokens: 50, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 100, tokens_reserved: 0 });
      await budgets.set(userId, clientId, null);
    });

    it('an idle slice is judged on the row its last settlement saw: another instance\'s spending since its extension counts', async () => {
      const a = await instance(Date.now, ownTransaction(storage.db), 60_000);
      const b = await instance();
      await limitTo1000(a, b);
      const small = (await a.budgets.reserve(userId, clientId, tokens(10))) as Held;
      const big = (await b.budgets.reserve(userId, clientId, fits(800))) as Held;
      await b.budgets.settle(big.id, userId, clientId, { tokens: 800, images: 0 });
      await a.budgets.settle(small.id, userId, clientId, { tokens: 10, images: 0 });
      // A's 123 free would be most of the 190 left: it goes back, and B's call of 100 fits.
      expect(await slices()).toEqual([]);
      const next = (await b.budgets.reserve(userId, clientId, fits(100)))!;
      expect(next.kind).toBe('reserved');
      await b.budgets.settle((next as Held).id, userId, clientId, { tokens: 0, images: 0 });
      await a.budgets.set(userId, clientId, null);
    });

    it('a call in the idle second keeps the slice a full second more from its own end', async () => {
      const { budgets, feed } = await instance(Date.now, ownTransaction(storage.db), 1_000);
      await budgets.set(userId, clientId, { tokens: 1_000_000, images: null, period: 'month' });
      await feed.catchUp();
      await callOf(budgets, 100, 10);
      await new Promise((resolve) => setTimeout(resolve, 600));
      await callOf(budgets, 100, 10);
      const secondEnded = Date.now();
      // The first idle second ends about now: the call in it keeps the slice until about a second after its own end.
      await new Promise((resolve) => setTimeout(resolve, 700));
      if (Date.now() - secondEnded < 950) expect(await slices()).toEqual([3_300]);
      await until(async () => (await slices()).length === 0, { timeoutMs: 3_000, message: 'the idle slice to go back' });
      await budgets.set(userId, clientId, null);
    });

    it('two instances hold 50 calls together never past the limit, and return every slice', async () => {
      const a = await instance();
      const b = await instance();
      await a.budgets.set(userId, clientId, { tokens: 10_000, images: null, period: 'day' });
      await Promise.all([a.feed.catchUp(), b.feed.catchUp()]);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? b : a).budgets.reserve(userId, clientId, tokens(700)).then((r) => [i % 2 ? b : a, r] as const)));
      const held = results.filter(([, r]) => r?.kind === 'reserved');
      expect(held.length).toBeLessThanOrEqual(14);
      expect(held.length).toBeGreaterThan(0);
      expect((await row()).tokens_reserved).toBeLessThanOrEqual(10_000);
      await Promise.all(held.map(([side, r]) => side.budgets.settle((r as Held).id, userId, clientId, { tokens: 700, images: 0 })));
      expect(await slices()).toEqual([]);
      expect(await row()).toMatchObject({ tokens_used: held.length * 700, tokens_reserved: 0 });
      await a.budgets.set(userId, clientId, null);
    });
  });

  // PostgreSQL: a statement's reads see the snapshot from before it waited for a row's lock (READ COMMITTED).
  describe.skipIf(!dialectAvailable(dialect) || dialect !== 'postgres')('PostgreSQL', () => {
    it('a slice released while its settlement waits for the budget row\'s lock serves no more calls from memory', async () => {
      const a = await instance();
      const b = await instance();
      await limitTo1000(a, b);
      const h1 = (await a.budgets.reserve(userId, clientId, tokens(10))) as Held;
      const h2 = (await a.budgets.reserve(userId, clientId, tokens(10))) as Held;
      expect(await slices()).toEqual([10 + Math.floor(990 / 8)]);
      // A's slice outlived its row's life; another instance releases it in a transaction that commits only once A's settlement waits.
      await storage.db.updateTable('budget_leases').set({ expires_at: 0 }).where('user_id', '=', userId).execute();
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const rows = new BudgetRows(budgetStatements(), true, null);
      const releasing = storage.db.transaction().execute(async (trx) => {
        expect(await rows.releaseStale(trx, userId, clientId, Date.now())).toBe(true);
        locked();
        await gate;
      });
      await isLocked;
      const settling = a.budgets.settle(h1.id, userId, clientId, { tokens: 10, images: 0 });
      await until(async () => Number((await sql<{ n: string }>`select count(*) as n from pg_locks where not granted`.execute(storage.db)).rows[0]!.n) > 0, { message: "A's settlement to wait for the row's lock" });
      open();
      await releasing;
      await settling;
      expect(await slices()).toEqual([]);
      const big = (await b.budgets.reserve(userId, clientId, fits(980))) as Held;
      expect(big.kind).toBe('reserved');
      // A's slice is gone: its next call goes to the row (1000 − 10 used − B's slice), not to memory.
      expect((await a.budgets.reserve(userId, clientId, fits(100)))!.kind).toBe('refused');
      await a.budgets.settle(h2.id, userId, clientId, { tokens: 10, images: 0 });
      await b.budgets.settle(big.id, userId, clientId, { tokens: 980, images: 0 });
      expect(await row()).toMatchObject({ tokens_used: 1_000, tokens_reserved: 0 });
      await a.budgets.set(userId, clientId, null);
    });
  });
});
