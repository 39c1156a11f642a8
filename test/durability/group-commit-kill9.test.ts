import { describe, expect, it } from 'vitest';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { spawnServer } from '../helpers/cli.js';
import { crashBed } from '../helpers/durability.js';

/**
 * Issue 18: with group commit, a caller is answered only after the commit
 * that holds its rows. Under concurrent refreshes and chat calls the process
 * is killed (SIGKILL) mid-load; every refresh and every generation that was
 * answered 200 must be in the database afterwards.
 */
describe('group commit loses nothing acknowledged to kill -9', () => {
  const { databaseUrl, upstream, withServices } = crashBed('group');

  it('keeps every answered refresh rotation and usage row', async () => {
    const REFRESHES = 400;
    const seeded = await withServices(async (s) => {
      const user = await s.users.create({ username: 'grouped', password: 'password123' });
      const client = await s.clients.create(user.id, { name: 'Busy', redirectUris: ['https://b.example/cb'], scopes: ['generations'] });
      await s.grants.allow(user.id, client.clientId, ['generations']);
      const refresh: string[] = [];
      let access = '';
      for (let i = 0; i < REFRESHES; i++) {
        const t = await s.oauth.issuance.issue(s.storage.db, { clientId: client.clientId, userId: user.id, scopes: ['generations'] }, `fam_g${i}`, null);
        refresh.push(t.refresh_token!);
        access = t.access_token;
      }
      return { userId: user.id, clientId: client.clientId, clientSecret: client.clientSecret!, refresh, access };
    });
    const server = await spawnServer({ DATABASE_URL: databaseUrl, UPSTREAM_BASE_URL: upstream().baseUrl, LOG_LEVEL: 'warn', RATE_LIMIT_TOKEN: '0', GROUP_COMMIT: 'on' });
    const api = `${server.url}/api/openai/v1`;
    const answered = { refreshes: [] as Array<{ old: string; access: string; refresh: string }>, chats: 0 };
    let killed = false;
    const kill = async () => {
      if (killed) return;
      killed = true;
      await server.stop('SIGKILL');
    };
    let next = 0;
    const worker = async (w: number) => {
      while (next < REFRESHES && !killed) {
        const i = next++;
        try {
          if (w % 4 === 0) {
            const r = await fetch(`${api}/oauth/chat/completions`, {
              method: 'POST',
              headers: { authorization: `Bearer ${seeded.access}`, 'content-type': 'application/json' },
              body: JSON.stringify({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }] }),
            });
            if (r.status === 200 && ((await r.json()) as { choices?: unknown }).choices) answered.chats++;
          } else {
            const r = await fetch(`${api}/oauth/token`, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: seeded.refresh[i]!, client_id: seeded.clientId, client_secret: seeded.clientSecret }),
            });
            if (r.status === 200) {
              const json = (await r.json()) as { access_token: string; refresh_token: string };
              answered.refreshes.push({ old: seeded.refresh[i]!, access: json.access_token, refresh: json.refresh_token });
            }
          }
        } catch {
          // the connection died with the process: not acknowledged
        }
        if (answered.refreshes.length >= 120) await kill();
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
    await kill();
    expect(answered.refreshes.length).toBeGreaterThanOrEqual(120);
    expect(answered.refreshes.length).toBeLessThan(REFRESHES);
    expect(answered.chats).toBeGreaterThan(0);

    await withServices(async (s) => {
      for (const r of answered.refreshes) {
        const [old, access, refresh] = await Promise.all([s.oauth.tokens.find(r.old), s.oauth.tokens.find(r.access), s.oauth.tokens.find(r.refresh)]);
        expect(old?.consumed_at, 'the rotated refresh token is consumed').not.toBeNull();
        expect(access?.token_hash).toBe(credentialKey(r.access));
        expect(refresh?.revoked_at).toBeNull();
      }
      const rows = await s.storage.db.selectFrom('usage_records').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', seeded.userId).executeTakeFirstOrThrow();
      expect(Number(rows.n)).toBeGreaterThanOrEqual(answered.chats);
    });
  }, 60_000);
});
