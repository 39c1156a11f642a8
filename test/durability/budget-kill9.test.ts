import { describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/cli.js';
import { crashBed } from '../helpers/durability.js';

/** SPEC §10: a reservation left by a process killed mid-call is released after its time, and only settled usage counts. */
describe('budgets survive kill -9 during a streamed call', () => {
  const { databaseUrl, upstream, withServices } = crashBed('budget');

  it('releases the dead call\'s hold once, and counts only what was settled', async () => {
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

    const second = await spawnServer(env);
    try {
      // Ten minutes later (the release time), as the database sees it.
      await withServices((s) => s.storage.db.updateTable('budget_reservations').set({ expires_at: Date.now() - 1 }).execute());
      const after = await chat(second.url, 'test-model', false);
      expect(after.status).toBe(200);
      const state = await withServices(async (s) => s.budgets.get(seeded.userId, seeded.clientId));
      expect(state).toMatchObject({ tokensUsed: 36, tokensReserved: 0 });
    } finally {
      await second.stop();
    }
  }, 60_000);
});
