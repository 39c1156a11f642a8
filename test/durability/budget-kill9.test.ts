import { describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';
import { crashBed } from '../helpers/durability.js';

/**
 * SPEC §10: what a process killed mid-call held — its lease's slice of the budget (budget-leases.ts) — is
 * released after its time, and only settled usage counts.
 */
describe('budgets survive kill -9 during a streamed call', () => {
  const { databaseUrl, upstream, withServices } = crashBed('budget');

  it('releases the dead instance\'s slice once, after it expires, and counts only what was settled', async () => {
    const seeded = await withServices(async (s) => {
      const user = await s.users.create({ username: 'killed', password: 'password123' });
      const client = await s.clients.create(user.id, { name: 'Streamer', redirectUris: ['https://s.example/cb'], scopes: ['generations'] });
      await s.grants.allow(user.id, client.clientId, ['generations']);
      await s.budgets.set(user.id, client.clientId, { tokens: 10_000, images: null, period: 'total' });
      const tokens = await s.oauth.issuance.issue(s.storage.db, { clientId: client.clientId, userId: user.id, scopes: ['generations'] }, 'fam_kill', null);
      return { userId: user.id, clientId: client.clientId, token: tokens.access_token };
    });
    const env = { DATABASE_URL: databaseUrl, UPSTREAM_BASE_URL: upstream().baseUrl, LOG_LEVEL: 'warn' };
    const first = await spawnServer(env);
    const chat = (url: string, model: string, stream: boolean) =>
      fetch(`${url}/api/openai/v1/oauth/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${seeded.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, stream, max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const settled = await chat(first.url, 'test-model', false);
    expect(settled.status).toBe(200);
    await settled.text();
    // A long stream is in flight when the process dies: its hold stays in the database.
    const streaming = await chat(first.url, 'endless-stream', true);
    const reader = streaming.body!.getReader();
    await reader.read();
    await first.stop('SIGKILL');
    await reader.cancel().catch(() => undefined);

    const held = await withServices(async (s) => s.budgets.get(seeded.userId, seeded.clientId));
    expect(held!.tokensReserved).toBeGreaterThan(1000);
    expect(held!.tokensUsed).toBe(18);
    // The stream held from a slice of the dead instance, which is all that is reserved.
    const slices = await withServices((s) => s.storage.db.selectFrom('budget_leases').select('tokens').execute());
    expect(slices.map((slice) => Number(slice.tokens))).toEqual([held!.tokensReserved]);

    const second = await spawnServer(env);
    try {
      // Before its time the slice stays reserved: the new instance's call holds beside it.
      const during = await chat(second.url, 'test-model', false);
      expect(during.status).toBe(200);
      await during.text();
      expect(await withServices(async (s) => s.budgets.get(seeded.userId, seeded.clientId))).toMatchObject({ tokensUsed: 36, tokensReserved: held!.tokensReserved });
      // Ten minutes later (the release time), as the database sees it: the budget is whole again but for what was settled.
      await withServices((s) => s.storage.db.updateTable('budget_leases').set({ expires_at: Date.now() - 1 }).execute());
      const after = await chat(second.url, 'test-model', false);
      expect(after.status).toBe(200);
      const state = await withServices(async (s) => s.budgets.get(seeded.userId, seeded.clientId));
      expect(state).toMatchObject({ tokensUsed: 54, tokensReserved: 0, tokensRemaining: 10_000 - 54 });
      expect(await withServices((s) => s.storage.db.selectFrom('budget_leases').select('id').execute())).toEqual([]);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
