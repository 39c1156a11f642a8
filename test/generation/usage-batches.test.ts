import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/accounts/users-service.js';
import { ClientsService } from '../../src/clients/service.js';
import { BudgetsService, type Reservation } from '../../src/consent/budgets.js';
import { GrantsService } from '../../src/consent/grants.js';
import { UsageBatches } from '../../src/generation/usage-batches.js';
import { UsageService, type UsageEntry } from '../../src/generation/usage.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { InvalidationFeed } from '../../src/storage/invalidations.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

type Held = Extract<Reservation, { kind: 'reserved' }>;

/** Usage batches (PostgreSQL only: src/generation/usage-batches.ts): what commits with a batch's rows, in how many statements. */
describe.skipIf(!dialectAvailable('postgres'))('usage batches (postgres)', () => {
  let database: TestDatabase;
  let storage: Storage;
  let feed: InvalidationFeed;
  let budgets: BudgetsService;
  let usage: UsageService;
  let userId: string;
  let clientId: string;
  /** Statements run through the batches' database handle (a transaction's BEGIN and COMMIT are not among them). */
  let statements = 0;
  const counting: KyselyPlugin = { transformQuery: (args) => args.node, transformResult: async (args) => (statements++, args.result) };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    userId = (await new UsersService(storage.db).create({ username: 'batches', password: 'password123' })).id;
    clientId = (await new ClientsService(storage.db).create(userId, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['generations'] })).clientId;
    await new GrantsService(storage.db).allow(userId, clientId, ['generations']);
    feed = new InvalidationFeed(storage);
    await feed.start();
    budgets = new BudgetsService(storage.db, Date.now, undefined, true, null, null, feed, 0);
    usage = new UsageService(storage.db, Date.now, undefined, new UsageBatches(storage.db.withPlugin(counting)));
  });
  afterAll(async () => {
    await feed?.stop();
    await storage?.close();
    await database?.cleanup();
  });

  const entry = (tokens: number): UsageEntry => ({
    principal: { userId, clientId, apiKeyId: null },
    clientName: 'App',
    endpoint: 'chat.completions',
    model: 'm',
    promptTokens: tokens,
    completionTokens: 0,
    images: 0,
    status: 200,
    latencyMs: 1,
  });
  const rowsOf = async () => Number((await storage.db.selectFrom('usage_records').select((eb) => eb.fn.countAll<string>().as('n')).where('client_id', '=', clientId).executeTakeFirstOrThrow()).n);
  const used = async () => Number((await storage.db.selectFrom('oauth_budgets').select('tokens_used').where('client_id', '=', clientId).executeTakeFirst())?.tokens_used ?? -1);
  /** Calls held from the grant's lease, recorded in one batch (queued in one event-loop turn), each with its settlement. */
  const batchOf = async (n: number, spent: number) => {
    const held = (await Promise.all(Array.from({ length: n }, () => budgets.reserve(userId, clientId, () => ({ tokens: 100, images: 0 }))))) as Held[];
    expect(held.map((h) => h.kind)).toEqual(Array(n).fill('reserved'));
    statements = 0;
    return Promise.all(held.map((h) => usage.record(entry(spent), { settle: budgets.settlement(h.id, userId, clientId, { tokens: spent, images: 0 }) })));
  };

  it("a batch's rows ride on its lease settlement's UPDATE: one statement writes both", async () => {
    await budgets.set(userId, clientId, { tokens: 1_000_000, images: null, period: 'month' });
    await feed.catchUp();
    const before = await rowsOf();
    const states = await batchOf(5, 30);
    expect(statements).toBe(1);
    expect(await rowsOf()).toBe(before + 5);
    expect(await used()).toBe(150);
    expect(states.every((s) => s !== null && s !== undefined)).toBe(true);
    await budgets.set(userId, clientId, null);
  });

  it("a batch's callers are answered without waiting for the return of the slice their settlement left idle", async () => {
    let gate: Promise<void> | null = null;
    let open!: () => void;
    const gated = new BudgetsService(storage.db, Date.now, async (work) => ((await gate), storage.db.transaction().execute(work)), true, null, null, feed);
    await gated.set(userId, clientId, { tokens: 100_000, images: null, period: 'month' });
    await feed.catchUp();
    const held = (await gated.reserve(userId, clientId, () => ({ tokens: 4_196, images: 0 }))) as Held;
    gate = new Promise<void>((resolve) => (open = resolve));
    // It held much and spends little: its slice goes back at once, in a transaction the gate holds up.
    const written = usage.record(entry(100), { settle: gated.settlement(held.id, userId, clientId, { tokens: 100, images: 0 }) });
    const answered = await Promise.race([written.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 1_000))]);
    open();
    gate = null;
    await written;
    await gated.returnsDone();
    expect(answered).toBe(true);
    expect(Number((await storage.db.selectFrom('budget_leases').select((eb) => eb.fn.countAll<string>().as('n')).where('client_id', '=', clientId).executeTakeFirstOrThrow()).n)).toBe(0);
    await gated.set(userId, clientId, null);
  });

  it('the rows are written though the budget row went away meanwhile (the UPDATE matches nothing)', async () => {
    await budgets.set(userId, clientId, { tokens: 1_000_000, images: null, period: 'month' });
    await feed.catchUp();
    const held = (await budgets.reserve(userId, clientId, () => ({ tokens: 100, images: 0 }))) as Held;
    // Removed by another instance whose announcement has not reached this one: the lease still holds the call.
    await new BudgetsService(storage.db).set(userId, clientId, null);
    const before = await rowsOf();
    const state = await usage.record(entry(30), { settle: budgets.settlement(held.id, userId, clientId, { tokens: 30, images: 0 }) });
    expect(state).toBeNull();
    expect(await rowsOf()).toBe(before + 1);
  });
});
