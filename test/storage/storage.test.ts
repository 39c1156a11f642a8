import { Migrator, sql, type Kysely } from 'kysely';
import { migrations } from '../../src/storage/migrations/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeysService, LAST_USED_INTERVAL_MS } from '../../src/accounts/api-keys/service.js';
import { UsersService } from '../../src/accounts/users-service.js';
import { ClientsService } from '../../src/clients/service.js';
import { AppError } from '../../src/errors.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { OAuthStore } from '../../src/oauth/store/store.js';
import { familyOfCode } from '../../src/oauth/store/credentials.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

/** Every migration from `first` on, in order: what migrating a database left at the one before applies. */
const migrationsFrom = (first: string): string[] => {
  const names = Object.keys(migrations).sort();
  expect(names).toContain(first);
  return names.slice(names.indexOf(first));
};

/** One storage suite, run on every dialect (SQLite always; PostgreSQL with TEST_DATABASE_URL_PG). */
describe.each(DIALECTS)('storage (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let clock = 1_800_000_000_000;
  const now = () => clock;
  let users: UsersService;
  let keys: ApiKeysService;
  let clients: ClientsService;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    users = new UsersService(storage.db, now);
    keys = new ApiKeysService(storage.db, now);
    clients = new ClientsService(storage.db, now);
  });
  afterAll(async () => {
    await storage?.close();
    await database?.cleanup();
  });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('migrates idempotently, and several migrators at once agree', async () => {
      expect(await migrateToLatest(storage)).toEqual([]);
      const others = [openStorage(database.url), openStorage(database.url)];
      try {
        const results = await Promise.all(others.map((s) => migrateToLatest(s)));
        expect(results).toEqual([[], []]);
      } finally {
        await Promise.all(others.map((s) => s.close()));
      }
    });

    it('applies every migration to a fresh database in one go', async () => {
      const fresh = await createTestDatabase(dialect);
      const s = openStorage(fresh.url);
      try {
        expect(await migrateToLatest(s)).toEqual(['0001_accounts_and_clients', '0002_sessions_and_oauth', '0003_characters_and_usage', '0004_audit_events', '0005_openid_connect', '0006_agents', '0007_device_grant', '0008_budgets', '0009_cache_invalidations', '0010_code_families', '0011_device_confirmations', '0013_audit_events_created', '0014_refresh_grant_kept', '0015_migration_compatibility', '0016_email_links', '0017_mail_outbox', '0018_second_factors', '0019_amr_through_grants', '0020_session_devices', '0021_pending_sign_in_failures', '0022_passkeys', '0023_response_owners', '0024_events', '0025_trusted_apps', '0026_roles_and_suspension', '0027_agent_tokens', '0028_grant_characters', '0029_device_sid', '0030_budget_leases', '0031_client_grant_count', '0032_audit_filter_indexes', '0033_session_confirmed', '0034_budget_slices_released']);
      } finally {
        await s.close();
        await fresh.cleanup();
      }
    });

    /** A fresh database migrated up to 0005, holding one user (u1) and their client (c1) as 0005 stores them. */
    const atMigration0005 = async () => {
      const fresh = await createTestDatabase(dialect);
      const s = openStorage(fresh.url);
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(s.db)).rows[0]!.s : undefined;
      const migrator = new Migrator({ db: s.db, provider: { getMigrations: async () => migrations }, ...(schema ? { migrationTableSchema: schema } : {}) });
      expect((await migrator.migrateTo('0005_openid_connect')).error).toBeUndefined();
      const db = s.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
      const t = 1_700_000_000_000;
      await db.insertInto('users').values({ id: 'u1', username: 'u', username_lower: 'u', email: null, password_hash: 'x', avatar: null, created_at: t, updated_at: t }).execute();
      await db
        .insertInto('oauth_clients')
        .values({ id: 'c1', user_id: 'u1', name: 'App', redirect_uris: '["https://a.example/cb"]', scopes: 'profile', is_public: 0, secret_hash: 'h', created_at: t, updated_at: t, id_token_signing_alg: null, post_logout_redirect_uris: null })
        .execute();
      return { fresh, s, migrator, db, t };
    };

    if (dialect === 'sqlite') {
      it('checks SQLite foreign keys after migrations that ran, and skips the whole-database scan when none is pending', async () => {
        const { fresh, s, db, t } = await atMigration0005();
        try {
          await sql`pragma foreign_keys = off`.execute(s.db);
          await db.insertInto('oauth_grants').values({ user_id: 'nobody', client_id: 'c1', scopes: 'profile', created_at: t, updated_at: t }).execute();
          await expect(migrateToLatest(s)).rejects.toThrow(/foreign keys point nowhere \(first in oauth_grants\)/);
          // Nothing left to apply: a start does not read every row again (seconds on a large database).
          expect(await migrateToLatest(s)).toEqual([]);
        } finally {
          await s.close();
          await fresh.cleanup();
        }
      });
    }

    it('0006 makes client owners optional without losing a client, grant, code or token (the SQLite rebuild cascades nothing)', async () => {
      const { fresh, s, db, t } = await atMigration0005();
      try {
        await db.insertInto('oauth_grants').values({ user_id: 'u1', client_id: 'c1', scopes: 'profile', created_at: t, updated_at: t }).execute();
        await db
          .insertInto('oauth_tokens')
          .values({ token_hash: 'th', kind: 'access', client_id: 'c1', user_id: 'u1', scopes: 'profile', family_id: 'f', code_hash: null, created_at: t, expires_at: t + 1, revoked_at: null, consumed_at: null, auth_time: null })
          .execute();
        expect(await migrateToLatest(s)).toEqual(migrationsFrom('0006_agents'));
        const client = await s.db.selectFrom('oauth_clients').selectAll().where('id', '=', 'c1').executeTakeFirstOrThrow();
        expect(client).toMatchObject({ user_id: 'u1', kind: 'owned', name: 'App', secret_hash: 'h' });
        expect(await s.db.selectFrom('oauth_grants').selectAll().execute()).toHaveLength(1);
        expect(await s.db.selectFrom('oauth_tokens').select(['token_hash', 'resources']).execute()).toEqual([{ token_hash: 'th', resources: null }]);
        // Owners are optional now, and the foreign keys still hold: deleting the user takes its client along.
        await s.db.deleteFrom('users').where('id', '=', 'u1').execute();
        expect(await s.db.selectFrom('oauth_clients').selectAll().execute()).toHaveLength(0);
        expect(await s.db.selectFrom('oauth_tokens').selectAll().execute()).toHaveLength(0);
      } finally {
        await s.close();
        await fresh.cleanup();
      }
    });

    it('0010 names each code\'s token family after the code, so a replayed code still revokes tokens issued before it', async () => {
      const { fresh, s, migrator, db, t } = await atMigration0005();
      try {
        expect((await migrator.migrateTo('0009_cache_invalidations')).error).toBeUndefined();
        const code = 'a'.repeat(64);
        const other = 'b'.repeat(64);
        const token = (token_hash: string, kind: string, family_id: string, code_hash: string | null) => ({ token_hash, kind, client_id: 'c1', user_id: 'u1', scopes: 'profile', family_id, code_hash, created_at: t, expires_at: t + 3_600_000, revoked_at: null, consumed_at: null, auth_time: null, resources: null });
        await db
          .insertInto('oauth_tokens')
          .values([
            token('at1', 'access', 'fam_random1', code),
            token('rt1', 'refresh', 'fam_random1', code),
            token('rt2', 'refresh', 'fam_random1', code), // rotated: same family, same code
            token('at3', 'access', 'fam_random2', other),
            token('atd', 'access', 'fam_device', null), // the device grant's tokens come from no code
          ])
          .execute();
        expect(await migrateToLatest(s)).toEqual(migrationsFrom('0010_code_families'));
        const families = await s.db.selectFrom('oauth_tokens').select(['token_hash', 'family_id']).orderBy('token_hash').execute();
        expect(families).toEqual([
          { token_hash: 'at1', family_id: familyOfCode(code) },
          { token_hash: 'at3', family_id: familyOfCode(other) },
          { token_hash: 'atd', family_id: 'fam_device' },
          { token_hash: 'rt1', family_id: familyOfCode(code) },
          { token_hash: 'rt2', family_id: familyOfCode(code) },
        ]);
        const store = new OAuthStore(s.db, { accessToken: 3600, refreshToken: 86400, authCode: 600 }, () => t);
        expect(await store.revocation.byCode(code)).toBe(3);
        const live = await s.db.selectFrom('oauth_tokens').select('token_hash').where('revoked_at', 'is', null).orderBy('token_hash').execute();
        expect(live.map((r) => r.token_hash)).toEqual(['at3', 'atd']);
      } finally {
        await s.close();
        await fresh.cleanup();
      }
    });

    it('keeps the refresh grant of every client made before the grant was checked (0014)', async () => {
      const { fresh, s, migrator, db, t } = await atMigration0005();
      try {
        expect((await migrator.migrateTo('0013_audit_events_created')).error).toBeUndefined();
        const client = (id: string, grant_types: string | null) => ({ id, user_id: 'u1', name: id, redirect_uris: '["https://a.example/cb"]', scopes: 'profile', is_public: 0, secret_hash: 'h', created_at: t, updated_at: t, id_token_signing_alg: null, post_logout_redirect_uris: null, grant_types });
        await db
          .insertInto('oauth_clients')
          .values([client('c_code', 'authorization_code'), client('c_device', 'urn:ietf:params:oauth:grant-type:device_code'), client('c_both', 'authorization_code refresh_token')])
          .execute();
        expect(await migrateToLatest(s)).toEqual(migrationsFrom('0014_refresh_grant_kept'));
        const rows = await s.db.selectFrom('oauth_clients').select(['id', 'grant_types']).orderBy('id').execute();
        expect(Object.fromEntries(rows.map((r) => [r.id, r.grant_types]))).toEqual({
          c1: null, // the default: authorization_code and refresh_token
          c_both: 'authorization_code refresh_token',
          c_code: 'authorization_code refresh_token',
          c_device: 'urn:ietf:params:oauth:grant-type:device_code refresh_token',
        });
      } finally {
        await s.close();
        await fresh.cleanup();
      }
    });

    if (dialect === 'sqlite') {
      // SPEC §6's WAL with synchronous=NORMAL: a commit syncs only the header of a WAL it starts again; checkpoints (the
      // checkpoint thread's) sync the WAL and the database file (wal-checkpointer.test.ts, test/durability/wal-header-sync.test.ts).
      it('runs SQLite in WAL mode with synchronous=NORMAL and foreign keys on', async () => {
        const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(storage.db);
        const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(storage.db);
        const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(storage.db);
        expect(journal.rows[0]?.journal_mode).toBe('wal');
        expect(sync.rows[0]?.synchronous).toBe(1);
        expect(fk.rows[0]?.foreign_keys).toBe(1);
      });
    }

    it('reads 64-bit timestamps back as numbers', async () => {
      const user = await users.create({ username: 'timey', password: 'password123' });
      const found = await users.findById(user.id);
      expect(found?.createdAt).toBe(clock);
      expect(typeof found?.createdAt).toBe('number');
    });

    it('keeps usernames unique regardless of case, and keeps the given case', async () => {
      const user = await users.create({ username: 'Carol.S', password: 'password123', email: 'carol@example.com' });
      expect(user.username).toBe('Carol.S');
      expect((await users.findByUsername('carol.s'))?.id).toBe(user.id);
      await expect(users.create({ username: 'CAROL.S', password: 'password123' })).rejects.toMatchObject({ code: 'username_taken' });
    });

    it('lets the unique index settle racing sign-ups for one name', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => users.create({ username: 'racer', password: 'password123' })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((r) => r.status === 'rejected')) {
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(AppError);
        expect((r as PromiseRejectedResult).reason.code).toBe('username_taken');
      }
    });

    it('refuses usernames and passwords outside SPEC §1', async () => {
      for (const username of ['ab', 'a'.repeat(33), 'has space', 'émile', 'semi;colon']) {
        await expect(users.create({ username, password: 'password123' })).rejects.toMatchObject({ param: 'username' });
      }
      for (const password of ['short', 'x'.repeat(257)]) {
        await expect(users.create({ username: 'okname', password })).rejects.toMatchObject({ param: 'password' });
      }
      expect((await users.create({ username: 'okname', password: 'x'.repeat(256) })).username).toBe('okname');
    });

    it('stores passwords as Argon2id hashes', async () => {
      const user = await users.create({ username: 'hashy', password: 'hunter2hunter2' });
      const row = await storage.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
      expect(row.password_hash).toMatch(/^\$argon2id\$/);
      expect(row.password_hash).not.toContain('hunter2');
    });

    it('stores API keys as SHA-256 hashes with a listable prefix', async () => {
      const user = await users.create({ username: 'keyholder', password: 'password123' });
      const created = await keys.create(user.id, 'laptop');
      expect(created.key).toMatch(/^sk-serika-[A-Za-z0-9_-]{43}$/);
      expect(created.prefix).toBe(created.key.slice(0, 18));
      const row = await storage.db.selectFrom('api_keys').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
      expect(JSON.stringify(row)).not.toContain(created.key);
      const { sha256Hex } = await import('../../src/security/secrets.js');
      expect(row.key_hash).toBe(sha256Hex(created.key));
      const listed = await keys.list(user.id);
      expect(listed).toEqual([expect.objectContaining({ name: 'laptop', prefix: created.prefix, lastUsedAt: null })]);
      expect(JSON.stringify(listed)).not.toContain(created.key);
    });

    it('writes last used at most once a minute', async () => {
      const user = await users.create({ username: 'busy', password: 'password123' });
      const { key, id } = await keys.create(user.id, 'busy');
      const lastUsed = async () =>
        (await storage.db.selectFrom('api_keys').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow()).last_used_at;
      const start = clock;
      expect(await keys.authenticate(key)).toMatchObject({ userId: user.id, username: 'busy' });
      expect(await lastUsed()).toBe(start);
      clock += 30_000;
      await Promise.all([keys.authenticate(key), keys.authenticate(key)]);
      expect(await lastUsed()).toBe(start);
      clock += LAST_USED_INTERVAL_MS;
      await Promise.all([keys.authenticate(key), keys.authenticate(key), keys.authenticate(key)]);
      expect(await lastUsed()).toBe(clock);
    });

    it('authenticates only live keys', async () => {
      const user = await users.create({ username: 'revoker', password: 'password123' });
      const a = await keys.create(user.id, 'a');
      const b = await keys.create(user.id, 'b');
      expect(await keys.revoke(user.id, a.prefix)).toBe(1);
      expect(await keys.revoke(user.id, a.prefix)).toBe(0);
      expect(await keys.authenticate(a.key)).toBeNull();
      expect(await keys.authenticate(b.key)).not.toBeNull();
      expect(await keys.revoke(user.id, b.prefix.slice('sk-serika-'.length))).toBe(1);
      expect(await keys.authenticate(b.key)).toBeNull();
      expect(await keys.authenticate('sk-serika-' + 'A'.repeat(43))).toBeNull();
      expect(await keys.authenticate('')).toBeNull();
    });

    it("does not let one user revoke another's key", async () => {
      const owner = await users.create({ username: 'owner1', password: 'password123' });
      const other = await users.create({ username: 'other1', password: 'password123' });
      const k = await keys.create(owner.id, 'mine');
      expect(await keys.revoke(other.id, k.prefix)).toBe(0);
      expect(await keys.authenticate(k.key)).not.toBeNull();
    });

    it('scopes clients to their owner', async () => {
      const owner = await users.create({ username: 'clientowner', password: 'password123' });
      const other = await users.create({ username: 'clientother', password: 'password123' });
      const c = await clients.create(owner.id, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['profile'] });
      await expect(clients.get(other.id, c.clientId)).rejects.toMatchObject({ code: 'not_found' });
      await expect(clients.update(other.id, c.clientId, { name: 'x' })).rejects.toMatchObject({ code: 'not_found' });
      await expect(clients.resetSecret(other.id, c.clientId)).rejects.toMatchObject({ code: 'not_found' });
      await expect(clients.delete(other.id, c.clientId)).rejects.toMatchObject({ code: 'not_found' });
      expect(await clients.list(other.id)).toEqual([]);
      expect((await clients.get(owner.id, c.clientId)).name).toBe('App');
    });

    it('round-trips the client object exactly', async () => {
      const owner = await users.create({ username: 'roundtrip', password: 'password123' });
      const uris = ['https://a.example/cb?x=1&y=%20', 'com.example.app:/cb', 'http://[::1]:9/cb'];
      const c = await clients.create(owner.id, { name: 'Ünïcødé 名前 🚀', redirectUris: uris, scopes: ['characters', 'profile'] });
      expect(await clients.get(owner.id, c.clientId)).toEqual({
        clientId: c.clientId,
        name: 'Ünïcødé 名前 🚀',
        redirectUris: uris,
        scopes: ['characters', 'profile'],
        public: false,
        createdAt: new Date(clock).toISOString(),
        idTokenSigningAlg: 'RS256',
        postLogoutRedirectUris: [],
        grantTypes: ['authorization_code', 'refresh_token'],
        webhookUrl: null,
        webhookEvents: ['grant.revoked', 'tokens.revoked', 'user.deleted', 'budget.threshold', 'budget.changed'],
        backchannelLogoutUri: null,
        logoUri: null,
        clientUri: null,
        policyUri: null,
        tosUri: null,
        contacts: [],
        logoUrl: null,
        logoError: null,
        verified: false,
        suspended: false,
      });
    });

    it("deletes a user's keys and clients with the user (foreign keys cascade)", async () => {
      const user = await users.create({ username: 'leaver', password: 'password123' });
      await keys.create(user.id, 'k');
      await clients.create(user.id, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['profile'] });
      await storage.db.deleteFrom('users').where('id', '=', user.id).execute();
      expect(await storage.db.selectFrom('api_keys').selectAll().where('user_id', '=', user.id).execute()).toEqual([]);
      expect(await storage.db.selectFrom('oauth_clients').selectAll().where('user_id', '=', user.id).execute()).toEqual([]);
    });

    it('answers a ping, and fails it once closed', async () => {
      await expect(storage.ping()).resolves.toBeUndefined();
      const extra = openStorage(database.url);
      await extra.ping();
      await extra.close();
      await expect(extra.ping()).rejects.toBeDefined();
    });
  });
});
