import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { migrations } from '../../src/storage/migrations/index.js';
import { DIALECTS, createTestDatabase, dialectAvailable } from '../helpers/databases.js';
import { authorizeUrl, obtainCode, pkce, registerClient, standardParams, userWithSession, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/**
 * SPEC §12: "how many people allowed it" on the consent page and in the admin console, read from the client's
 * grant_count (migration 0031's triggers) — which must stay exactly the number of its grants, whichever path
 * creates or removes one.
 */
describe.each(DIALECTS)('the count of people who allowed an app (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let admin: Seeded;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    owner = await seedUser(ts, `counted_owner_${dialect}`);
    admin = await seedUser(ts, `counted_admin_${dialect}`);
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
  });
  afterAll(async () => ts?.close());

  /** The count as the admin API gives it (`users`), beside the grants themselves. */
  async function counted(client: TestClient): Promise<{ api: number; grants: number }> {
    const reply = await call('GET', `${ts.url}/admin/api/clients?q=${client.clientId}`, { key: admin.key });
    expect(reply.status).toBe(200);
    expect(reply.json.data).toHaveLength(1);
    const grants = await ts.services.storage.db.selectFrom('oauth_grants').select((eb) => eb.fn.countAll<number>().as('n')).where('client_id', '=', client.clientId).executeTakeFirstOrThrow();
    return { api: reply.json.data[0].users, grants: Number(grants.n) };
  }

  async function consentSays(client: TestClient): Promise<string> {
    const { agent } = await userWithSession(ts);
    const page = await agent.fetch(authorizeUrl(ts, standardParams(client, pkce().challenge)));
    expect(page.status).toBe(200);
    return /(Nobody has allowed it yet|Allowed by [\d,]+ (?:person|people))/.exec(await page.text())![1]!;
  }

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('counts a grant once, re-consent included, and uncounts a revocation and a deleted user', async () => {
      const client = await registerClient(ts, owner, { name: 'Counted', scopes: ['profile', 'email'] });
      expect(await counted(client)).toEqual({ api: 0, grants: 0 });
      expect(await consentSays(client)).toBe('Nobody has allowed it yet');

      const first = await userWithSession(ts);
      await obtainCode(ts, first.agent, client, { scope: 'profile' });
      expect(await counted(client)).toEqual({ api: 1, grants: 1 });
      // Asked again, and for more: the grant is updated, not a second one.
      await obtainCode(ts, first.agent, client, { scope: 'profile', prompt: 'consent' });
      await obtainCode(ts, first.agent, client, { scope: 'profile email' });
      expect(await counted(client)).toEqual({ api: 1, grants: 1 });
      expect(await consentSays(client)).toBe('Allowed by 1 person');

      const second = await userWithSession(ts);
      await obtainCode(ts, second.agent, client, { scope: 'profile' });
      expect(await counted(client)).toEqual({ api: 2, grants: 2 });
      expect(await consentSays(client)).toBe('Allowed by 2 people');

      expect(await ts.services.grants.revokeAccess(first.user.userId, client.clientId)).toBe(true);
      expect(await ts.services.grants.revokeAccess(first.user.userId, client.clientId)).toBe(false);
      expect(await counted(client)).toEqual({ api: 1, grants: 1 });

      await ts.services.users.delete(second.user.userId);
      expect(await counted(client)).toEqual({ api: 0, grants: 0 });
      expect(await consentSays(client)).toBe('Nobody has allowed it yet');
    });

    it('counts an app with many users, grants written and removed many to a statement', async () => {
      const client = await registerClient(ts, owner, { name: 'Popular', scopes: ['profile'] });
      const other = await registerClient(ts, owner, { name: 'Other', scopes: ['profile'] });
      const db = ts.services.storage.db;
      const ids = Array.from({ length: 1200 }, (_, i) => `user_count_${dialect}_${String(i).padStart(4, '0')}`);
      for (let i = 0; i < ids.length; i += 400) {
        const slice = ids.slice(i, i + 400);
        await db.insertInto('users').values(slice.map((id) => ({ id, username: id, username_lower: id, email: null, password_hash: 'x', created_at: 1, updated_at: 1, role: 'user' as const }))).execute();
        // Both apps in one statement: each is counted its own rows.
        const grants = slice.flatMap((user_id, j) => [{ user_id, client_id: client.clientId, scopes: 'profile', created_at: 1, updated_at: 1 }, ...(j % 4 === 0 ? [{ user_id, client_id: other.clientId, scopes: 'profile', created_at: 1, updated_at: 1 }] : [])]);
        await db.insertInto('oauth_grants').values(grants).execute();
      }
      expect(await counted(client)).toEqual({ api: 1200, grants: 1200 });
      expect(await counted(other)).toEqual({ api: 300, grants: 300 });
      expect(await consentSays(client)).toBe('Allowed by 1,200 people');

      // 200 users deleted in one statement: their grants go by cascade.
      await db.deleteFrom('users').where('id', 'in', ids.slice(0, 200)).execute();
      expect(await counted(client)).toEqual({ api: 1000, grants: 1000 });
      expect(await counted(other)).toEqual({ api: 250, grants: 250 });
      // An update that moves nothing writes nothing wrong.
      await db.updateTable('oauth_grants').set({ updated_at: 2 }).where('client_id', '=', client.clientId).execute();
      expect(await counted(client)).toEqual({ api: 1000, grants: 1000 });
    });

    it("survives its owner's deletion taking the app and its grants in one cascade", async () => {
      const leaving = await seedUser(ts);
      const client = await registerClient(ts, leaving, { name: 'Orphaned', scopes: ['profile'] });
      const kept = await registerClient(ts, owner, { name: 'Kept', scopes: ['profile'] });
      const user = await userWithSession(ts);
      await obtainCode(ts, user.agent, client, { scope: 'profile' });
      await obtainCode(ts, user.agent, kept, { scope: 'profile' });
      // The owner allowed both too: their own grants and their app's go in the same statement.
      const owning = await userWithSession(ts, `${leaving.username}_x`);
      await obtainCode(ts, owning.agent, kept, { scope: 'profile' });
      expect(await counted(kept)).toEqual({ api: 2, grants: 2 });
      await ts.services.users.delete(leaving.userId);
      await ts.services.users.delete(owning.user.userId);
      expect((await call('GET', `${ts.url}/admin/api/clients?q=${client.clientId}`, { key: admin.key })).json.data).toEqual([]);
      expect(await counted(kept)).toEqual({ api: 1, grants: 1 });
    });

    it('counts the grants made before the migration (backfill)', async () => {
      const fresh = await createTestDatabase(dialect);
      const s = openStorage(fresh.url);
      try {
        const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(s.db)).rows[0]!.s : undefined;
        const migrator = new Migrator({ db: s.db, provider: { getMigrations: async () => migrations }, ...(schema ? { migrationTableSchema: schema } : {}) });
        expect((await migrator.migrateTo('0030_budget_leases')).error).toBeUndefined();
        const db = s.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
        await db.insertInto('users').values(['u1', 'u2', 'u3'].map((id) => ({ id, username: id, username_lower: id, email: null, password_hash: 'x', created_at: 1, updated_at: 1, role: 'user' as const }))).execute();
        const app = (id: string) => ({ id, user_id: 'u1', name: id, redirect_uris: '["https://a.example/cb"]', scopes: 'profile', is_public: 0, secret_hash: 'h', created_at: 1, updated_at: 1 });
        await db.insertInto('oauth_clients').values([app('c_two'), app('c_one'), app('c_none')]).execute();
        const grant = (user_id: string, client_id: string) => ({ user_id, client_id, scopes: 'profile', created_at: 1, updated_at: 1 });
        await db.insertInto('oauth_grants').values([grant('u1', 'c_two'), grant('u2', 'c_two'), grant('u3', 'c_one')]).execute();
        expect(await migrateToLatest(s)).toContain('0031_client_grant_count');
        const rows = await s.db.selectFrom('oauth_clients').select(['id', 'grant_count']).orderBy('id').execute();
        expect(rows.map((r) => [r.id, Number(r.grant_count)])).toEqual([['c_none', 0], ['c_one', 1], ['c_two', 2]]);
      } finally {
        await s.close();
        await fresh.cleanup();
      }
    });
  });
});
