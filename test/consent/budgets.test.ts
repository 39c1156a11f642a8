import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/accounts/users-service.js';
import { ClientsService } from '../../src/clients/service.js';
import { BudgetsService, RESERVATION_TTL_MS, type BudgetState, type Reservation } from '../../src/consent/budgets.js';
import { GrantsService } from '../../src/consent/grants.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('BudgetsService (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let clock = Date.UTC(2026, 10, 30, 12);
  const now = () => clock;
  let budgets: BudgetsService;
  let grants: GrantsService;
  let userId: string;
  let clientId: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    budgets = new BudgetsService(storage.db, now);
    grants = new GrantsService(storage.db, now);
    userId = (await new UsersService(storage.db, now).create({ username: `budget_${dialect}`, password: 'password123' })).id;
    clientId = (await new ClientsService(storage.db, now).create(userId, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['generations'] })).clientId;
    await grants.allow(userId, clientId, ['generations']);
  });
  afterAll(async () => {
    await storage?.close();
    await database?.cleanup();
  });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('settlements racing "Remove limit" neither deadlock nor fail (every writer locks the budget row before its holds)', async () => {
      // The full benchmark on PostgreSQL once died here: a settlement deleted its hold and then waited for the
      // budget row, while the removal held the row and waited to cascade to that hold.
      for (let round = 0; round < 5; round++) {
        await budgets.set(userId, clientId, { tokens: 1_000_000, images: null, period: 'total' });
        const held = (await Promise.all(Array.from({ length: 30 }, () => budgets.reserve(userId, clientId, () => ({ tokens: 10, images: 0 }))))).filter(
          (r): r is Extract<Reservation, { kind: 'reserved' }> => r?.kind === 'reserved',
        );
        expect(held).toHaveLength(30);
        const settled = held.map((r) => budgets.settle(r.id, userId, clientId, { tokens: 5, images: 0 }));
        const removed = budgets.set(userId, clientId, null);
        const outcomes = await Promise.allSettled([...settled, removed]);
        expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
      }
      expect(await budgets.get(userId, clientId)).toBeNull();
    });

    it('50 concurrent reservations never hold more than the limit; settling counts what was spent', async () => {
      await budgets.set(userId, clientId, { tokens: 10_000, images: null, period: 'month' });
      const results = await Promise.all(Array.from({ length: 50 }, () => budgets.reserve(userId, clientId, () => ({ tokens: 700, images: 0 }))));
      const held = results.filter((r) => r?.kind === 'reserved');
      expect(held).toHaveLength(14); // 14 × 700 = 9,800 ≤ 10,000 < 15 × 700
      expect(results.filter((r) => r?.kind === 'refused')).toHaveLength(36);
      await Promise.all(held.map((r) => budgets.settle((r as { id: string }).id, userId, clientId, { tokens: 650, images: 0 })));
      const state = (await budgets.get(userId, clientId))!;
      expect(state).toMatchObject({ tokensUsed: 14 * 650, tokensReserved: 0, tokensRemaining: 10_000 - 14 * 650 });
    });

    it('rolls the month over on the 1st (UTC) and keeps a changed limit\'s usage', async () => {
      await budgets.set(userId, clientId, { tokens: 20_000, images: 5, period: 'month' });
      expect((await budgets.get(userId, clientId))!.tokensUsed).toBe(14 * 650);
      clock = Date.UTC(2026, 11, 1, 0, 0, 1);
      const state = (await budgets.get(userId, clientId))!;
      expect(state).toMatchObject({ tokensUsed: 0, imagesUsed: 0, resetsAt: Date.UTC(2027, 0, 1) });
    });

    it('a day budget resets at UTC midnight; total never', async () => {
      await budgets.set(userId, clientId, { tokens: 100, images: null, period: 'day' });
      const r = await budgets.reserve(userId, clientId, () => ({ tokens: 100, images: 0 }));
      await budgets.settle((r as { id: string }).id, userId, clientId, { tokens: 100, images: 0 });
      expect((await budgets.reserve(userId, clientId, () => ({ tokens: 1, images: 0 })))!.kind).toBe('refused');
      clock += 86_400_000;
      const next = await budgets.reserve(userId, clientId, () => ({ tokens: 1, images: 0 }));
      expect(next!.kind).toBe('reserved');
      await budgets.settle((next as { id: string }).id, userId, clientId, { tokens: 1, images: 0 });
      await budgets.set(userId, clientId, { tokens: 10, images: null, period: 'total' });
      const t = await budgets.reserve(userId, clientId, () => ({ tokens: 10, images: 0 }));
      expect(t!.kind).toBe('reserved');
      await budgets.settle((t as { id: string }).id, userId, clientId, { tokens: 10, images: 0 });
      clock += 400 * 86_400_000;
      expect((await budgets.reserve(userId, clientId, () => ({ tokens: 1, images: 0 })))!.kind).toBe('refused');
    });

    it('a reservation a crashed process left is released after 10 minutes, once', async () => {
      await budgets.set(userId, clientId, { tokens: 1_000, images: null, period: 'day' });
      const before = (await budgets.get(userId, clientId))!;
      expect(before.tokensRemaining).toBe(1_000);
      const lost = await budgets.reserve(userId, clientId, () => ({ tokens: before.tokensRemaining!, images: 0 }));
      expect(lost!.kind).toBe('reserved');
      expect((await budgets.reserve(userId, clientId, () => ({ tokens: 1, images: 0 })))!.kind).toBe('refused');
      clock += RESERVATION_TTL_MS + 1;
      const after = (await budgets.get(userId, clientId))!;
      expect(after.tokensReserved).toBe(0);
      expect(after.tokensRemaining).toBe(before.tokensRemaining);
      // Settling it late counts only what it spent, never the released hold again.
      await budgets.settle((lost as { id: string }).id, userId, clientId, { tokens: 30, images: 0 });
      expect((await budgets.get(userId, clientId))!).toMatchObject({ tokensReserved: 0, tokensUsed: 30, tokensRemaining: 970 });
    });

    it('the pruner releases expired holds nobody read', async () => {
      await budgets.set(userId, clientId, { tokens: 500, images: null, period: 'total' });
      expect((await budgets.reserve(userId, clientId, () => ({ tokens: 300, images: 0 })))!.kind).toBe('reserved');
      clock += RESERVATION_TTL_MS + 1;
      expect(await storage.db.transaction().execute((trx) => budgets.releaseExpired(trx, clock))).toBe(1);
      const row = await storage.db.selectFrom('oauth_budgets').select('tokens_reserved').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirstOrThrow();
      expect(row.tokens_reserved).toBe(0);
    });

    it('a budget row remembered from the last call never decides against a change made elsewhere (another process)', async () => {
      const elsewhere = new BudgetsService(storage.db, now);
      // The completion cap a chat call asks for, lowered to what remains (as BudgetGuard plans it).
      const chat = (wanted: number) => (s: BudgetState) => {
        if (s.tokensRemaining === null) return null;
        if (s.tokensRemaining < 1) return 'refuse' as const;
        const cap = Math.min(wanted, s.tokensRemaining);
        return { tokens: cap, images: 0, shaped: cap < wanted };
      };
      const held = async (r: Reservation | null) => {
        expect(r?.kind).toBe('reserved');
        await budgets.settle((r as { id: string }).id, userId, clientId, { tokens: 0, images: 0 });
        return r as Extract<Reservation, { kind: 'reserved' }>;
      };
      // Images only: chat is not limited. Then a token limit set elsewhere applies to the very next call.
      await budgets.set(userId, clientId, { tokens: null, images: 5, period: 'total' });
      expect(await budgets.reserve(userId, clientId, chat(100))).toBeNull();
      await held(await budgets.reserve(userId, clientId, () => ({ tokens: 0, images: 1 })));
      await elsewhere.set(userId, clientId, { tokens: 50, images: 5, period: 'total' });
      expect((await held(await budgets.reserve(userId, clientId, chat(100)))).state.tokensReserved).toBe(50);
      // Lowered elsewhere: what fitted the remembered row no longer fits.
      await elsewhere.set(userId, clientId, { tokens: 10, images: 5, period: 'total' });
      expect((await held(await budgets.reserve(userId, clientId, chat(8)))).state.tokensReserved).toBe(8);
      await elsewhere.set(userId, clientId, { tokens: 5, images: 5, period: 'total' });
      expect((await held(await budgets.reserve(userId, clientId, chat(8)))).state.tokensReserved).toBe(5);
      // Raised elsewhere: a cap the remembered row would lower, or a refusal it would give, is planned afresh.
      await elsewhere.set(userId, clientId, { tokens: 1_000, images: 5, period: 'total' });
      expect((await held(await budgets.reserve(userId, clientId, chat(100)))).state.tokensReserved).toBe(100);
      const spent = await budgets.reserve(userId, clientId, () => ({ tokens: 1_000, images: 0 }));
      await budgets.settle((spent as { id: string }).id, userId, clientId, { tokens: 1_000, images: 0 });
      expect((await budgets.reserve(userId, clientId, chat(100)))!.kind).toBe('refused');
      await elsewhere.set(userId, clientId, { tokens: 2_000, images: 5, period: 'total' });
      expect((await held(await budgets.reserve(userId, clientId, chat(100)))).state.tokensReserved).toBe(100);
      // Removed elsewhere: not limited any more.
      await elsewhere.set(userId, clientId, null);
      expect(await budgets.reserve(userId, clientId, chat(100))).toBeNull();
      expect(await budgets.reserve(userId, clientId, chat(100))).toBeNull();
    });

    it('removing the limit, or revoking the grant, removes the budget', async () => {
      await budgets.set(userId, clientId, null);
      expect(await budgets.get(userId, clientId)).toBeNull();
      expect(await budgets.reserve(userId, clientId, () => ({ tokens: 1, images: 0 }))).toBeNull();
      await budgets.set(userId, clientId, { tokens: 5, images: null, period: 'day' });
      await grants.revokeAccess(userId, clientId);
      expect(await budgets.get(userId, clientId)).toBeNull();
    });
  });
});
