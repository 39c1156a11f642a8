import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/accounts/users-service.js';
import { ClientsService } from '../../src/clients/service.js';
import { BudgetsService, RESERVATION_TTL_MS, type Reservation } from '../../src/consent/budgets.js';
import { GrantsService } from '../../src/consent/grants.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('sub-agent budgets: one hold over the grant and the lineage (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let clock = Date.UTC(2026, 10, 30, 12);
  const now = () => clock;
  let budgets: BudgetsService;
  let userId: string;
  let clientId: string;
  let serial = 0;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    budgets = new BudgetsService(storage.db, now);
    userId = (await new UsersService(storage.db, now).create({ username: `agents_${dialect}`, password: 'password123' })).id;
    clientId = (await new ClientsService(storage.db, now).create(userId, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['generations'] })).clientId;
    await new GrantsService(storage.db, now).allow(userId, clientId, ['generations']);
  });
  afterAll(async () => {
    await storage?.close();
    await database?.cleanup();
  });

  /** A token row (the agent rows' foreign key) and its sub-agent budget row. */
  async function agentToken(tokens: number | null): Promise<string> {
    const hash = `hash_${dialect}_${++serial}`;
    await storage.db
      .insertInto('oauth_tokens')
      .values({ token_hash: hash, kind: 'access', client_id: clientId, user_id: userId, scopes: 'generations', family_id: 'fam', code_hash: null, created_at: clock, expires_at: clock + 3_600_000, revoked_at: null, consumed_at: null, auth_time: null, resources: null, amr: null })
      .execute();
    await storage.db.transaction().execute((trx) => budgets.createAgent(trx, hash, userId, clientId, tokens === null ? null : { tokens, images: null, period: 'total' }));
    return hash;
  }
  const held = (results: Array<Reservation | null>) => results.filter((r): r is Extract<Reservation, { kind: 'reserved' }> => r?.kind === 'reserved');

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('50 concurrent holds of three capped siblings never pass a sibling\'s cap nor the grant\'s', async () => {
      await budgets.set(userId, clientId, { tokens: 10_000, images: null, period: 'month' });
      const children = [await agentToken(5_000), await agentToken(5_000), await agentToken(5_000)];
      // Worker 0 asks 30 times (its cap allows 7 holds of 700), the others 10 times each; the grant allows 14.
      const lineageOf = (i: number) => [children[i % 5 < 3 ? 0 : (i % 5) - 2]!];
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => budgets.reserve(userId, clientId, () => ({ tokens: 700, images: 0 }), lineageOf(i)).then((r) => ({ r, child: lineageOf(i)[0] }))));
      const reserved = results.filter(({ r }) => r?.kind === 'reserved');
      expect(reserved.length).toBeLessThanOrEqual(14);
      expect(reserved.length).toBeGreaterThanOrEqual(12);
      for (const child of children) expect(reserved.filter((x) => x.child === child).length).toBeLessThanOrEqual(7);
      expect(reserved.filter((x) => x.child === children[0]).length).toBeGreaterThanOrEqual(5);
      const grant = (await budgets.get(userId, clientId))!;
      expect(grant.tokensReserved).toBe(700 * reserved.length);
      // Settling takes each hold off both the sibling and the grant, and counts the spending in both.
      await Promise.all(reserved.map(({ r, child }) => budgets.settle((r as { id: string }).id, userId, clientId, { tokens: 600, images: 0 }, undefined, [child!])));
      const after = (await budgets.get(userId, clientId))!;
      expect(after).toMatchObject({ tokensReserved: 0, tokensUsed: 600 * reserved.length });
      const states = await budgets.agentStates(children);
      expect([...states.values()].reduce((sum, s) => sum + s.tokensUsed, 0)).toBe(600 * reserved.length);
      expect([...states.values()].every((s) => s.tokensReserved === 0)).toBe(true);
      await budgets.set(userId, clientId, null);
    });

    it('a grandchild counts in its parent\'s cap too; without a grant budget it still holds on its lineage', async () => {
      const parent = await agentToken(1_000);
      const child = await agentToken(null);
      const first = await budgets.reserve(userId, clientId, () => ({ tokens: 800, images: 0 }), [child, parent]);
      expect(first?.kind).toBe('reserved');
      expect((first as { state: { tokensRemaining: number } }).state.tokensRemaining).toBe(200);
      expect((await budgets.reserve(userId, clientId, () => ({ tokens: 300, images: 0 }), [child, parent]))?.kind).toBe('refused');
      // The planner sees the tightest remainder: a capped call is shaped to it.
      const shaped = await budgets.reserve(userId, clientId, (state) => ({ tokens: state.tokensRemaining!, images: 0 }), [child, parent]);
      expect(shaped?.kind).toBe('reserved');
      await budgets.settle((shaped as { id: string }).id, userId, clientId, { tokens: 50, images: 0 }, undefined, [child, parent]);
      const states = await budgets.agentStates([parent, child]);
      expect(states.get(parent)).toMatchObject({ tokensUsed: 50, tokensReserved: 800 });
      expect(states.get(child)).toMatchObject({ tokensUsed: 50, tokens: null });
      // Nothing limits this one, yet the hold of nothing is still settled, so its spending is counted.
      const free = await agentToken(null);
      const loose = await budgets.reserve(userId, clientId, () => null, [free]);
      expect(loose?.kind).toBe('reserved');
      await budgets.settle((loose as { id: string }).id, userId, clientId, { tokens: 42, images: 0 }, undefined, [free]);
      expect((await budgets.agentStates([free])).get(free)).toMatchObject({ tokensUsed: 42 });
    });

    it('calls nothing limits hold nothing, and many settled in one transaction count on every row of their lineage', async () => {
      const parent = await agentToken(null);
      const lineages = [[await agentToken(null), parent], [await agentToken(null), parent]];
      const reservations = await Promise.all(Array.from({ length: 20 }, (_, i) => budgets.reserve(userId, clientId, () => null, lineages[i % 2])));
      const ids = held(reservations).map((r) => r.id);
      expect(ids).toHaveLength(20);
      const holds = await storage.db.selectFrom('agent_reservations').select('id').where('token_hash', 'in', [parent, ...lineages.map((l) => l[0]!)]).execute();
      expect(holds).toEqual([]);
      const parts = ids.map((id, i) => budgets.settlement(id, userId, clientId, { tokens: 10 * (i + 1), images: i % 2 }, lineages[i % 2]));
      expect(new Set(parts.map((p) => p.batch)).size).toBe(1);
      const results = await storage.db.transaction().execute((trx) => parts[0]!.batch.run(trx, parts.map((p) => p.item)));
      expect(results).toEqual(ids.map(() => null));
      const sum = (from: number) => Array.from({ length: 10 }, (_, k) => 10 * (from + 2 * k + 1)).reduce((a, b) => a + b, 0);
      const states = await budgets.agentStates([parent, lineages[0]![0]!, lineages[1]![0]!]);
      expect(states.get(lineages[0]![0]!)).toMatchObject({ tokensUsed: sum(0), imagesUsed: 0, tokensReserved: 0 });
      expect(states.get(lineages[1]![0]!)).toMatchObject({ tokensUsed: sum(1), imagesUsed: 10, tokensReserved: 0 });
      expect(states.get(parent)).toMatchObject({ tokensUsed: sum(0) + sum(1), imagesUsed: 10 });
    });

    it('holds of a process that died are released after their expiry, once', async () => {
      const child = await agentToken(1_000);
      expect(held([await budgets.reserve(userId, clientId, () => ({ tokens: 900, images: 0 }), [child])])).toHaveLength(1);
      expect((await budgets.reserve(userId, clientId, () => ({ tokens: 900, images: 0 }), [child]))?.kind).toBe('refused');
      clock += RESERVATION_TTL_MS + 1;
      const again = await budgets.reserve(userId, clientId, () => ({ tokens: 900, images: 0 }), [child]);
      expect(again?.kind).toBe('reserved');
      expect((await budgets.agentStates([child])).get(child)).toMatchObject({ tokensReserved: 900, tokensUsed: 0 });
    });
  });
});
