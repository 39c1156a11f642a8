import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { InvalidationFeed, type Invalidation } from '../../src/storage/invalidations.js';
import { accessTokenCache, type CacheableToken } from '../../src/oauth/store/access-token-cache.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

const row = (hash: string, over: Partial<CacheableToken> = {}): CacheableToken => ({ token_hash: hash, kind: 'access', family_id: 'fam_1', code_hash: 'code_1', client_id: 'client_1', user_id: 'user_1', ...over });

/** The invalidation outbox and the access-token cache on every dialect (issue 18). */
describe.each(DIALECTS)('invalidation feed and token cache (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let other: Storage;
  const feeds: InvalidationFeed[] = [];

  const newFeed = async (on: Storage, options = {}) => {
    const feed = new InvalidationFeed(on, { pollMs: 20, holeMs: 300, ...options });
    await feed.start();
    feeds.push(feed);
    return feed;
  };

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    other = openStorage(database.url);
    await migrateToLatest(storage);
  });
  afterEach(async () => {
    for (const feed of feeds.splice(0)) await feed.stop();
  });
  afterAll(async () => {
    await storage?.close();
    await other?.close();
    await database?.cleanup();
  });

  it.skipIf(!dialectAvailable(dialect))('delivers what a committed transaction recorded to every process, once, and nothing of one that rolled back', async () => {
    const writer = await newFeed(storage);
    const reader = await newFeed(other);
    const seen: Invalidation[] = [];
    reader.subscribe((events) => seen.push(...events));
    await storage.db.transaction().execute((trx) => writer.record(trx, [{ kind: 'family', key: 'fam_a' }, { kind: 'user', key: 'user_a' }]));
    await expect(
      storage.db.transaction().execute(async (trx) => {
        await writer.record(trx, [{ kind: 'token', key: 'never' }]);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await storage.db.transaction().execute((trx) => writer.record(trx, [{ kind: 'client', key: 'client_b' }]));
    await until(() => seen.length === 3, { timeoutMs: 1000, intervalMs: 10, message: 'the reader to see 3 invalidations' });
    await reader.catchUp();
    expect(seen).toEqual([{ kind: 'family', key: 'fam_a' }, { kind: 'user', key: 'user_a' }, { kind: 'client', key: 'client_b' }]);
    // The writer's own rolled-back change keeps its caches off only until the hole is known for one.
    await until(() => writer.fresh, { timeoutMs: 1000, intervalMs: 10, message: "the writer's feed to be fresh again" });
  });

  it.skipIf(dialect !== 'postgres' || !dialectAvailable(dialect))('delivers ids that commit out of order (PostgreSQL)', async () => {
    const reader = await newFeed(other);
    const writer = new InvalidationFeed(storage);
    const seen: string[] = [];
    reader.subscribe((events) => seen.push(...events.map((e) => e.key)));
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((r) => (releaseFirst = r));
    let firstRecorded!: () => void;
    const recorded = new Promise<void>((r) => (firstRecorded = r));
    const first = storage.db.transaction().execute(async (trx) => {
      await writer.record(trx, [{ kind: 'token', key: 'lower id, later commit' }]);
      firstRecorded();
      await firstHeld;
    });
    await recorded;
    await storage.db.transaction().execute((trx) => writer.record(trx, [{ kind: 'token', key: 'higher id, first commit' }]));
    await until(() => seen.length === 1, { timeoutMs: 1000, intervalMs: 10, message: 'the reader to see the first commit' });
    releaseFirst();
    await first;
    await until(() => seen.length === 2, { timeoutMs: 1000, intervalMs: 10, message: 'the reader to see both commits' });
    expect(seen).toEqual(['higher id, first commit', 'lower id, later commit']);
  });

  it.skipIf(!dialectAvailable(dialect))('is not fresh while the outbox cannot be read, so caches answer from the database', async () => {
    const feed = await newFeed(other, { staleMs: 200 });
    await until(() => feed.fresh, { timeoutMs: 500, intervalMs: 10, message: 'the feed to be fresh' });
    await sql`alter table cache_invalidations rename to cache_invalidations_away`.execute(storage.db);
    try {
      await until(() => !feed.fresh, { timeoutMs: 1000, intervalMs: 10, message: 'the feed to go stale while the outbox is unreadable' });
      const cache = accessTokenCache<CacheableToken>(feed, 10);
      let loads = 0;
      const load = async () => (loads++, row('h1'));
      await cache.get('h1', load);
      await cache.get('h1', load);
      expect(loads).toBe(2);
    } finally {
      await sql`alter table cache_invalidations_away rename to cache_invalidations`.execute(storage.db);
    }
    await until(() => feed.fresh, { timeoutMs: 1000, intervalMs: 10, message: 'the feed to be fresh' });
  });

  it.skipIf(!dialectAvailable(dialect))('evicts exactly what each kind of invalidation names, and keeps the rest', async () => {
    const feed = await newFeed(storage);
    const cache = accessTokenCache<CacheableToken>(feed, 100);
    const rows = {
      token: row('t', { family_id: 'f0', code_hash: null, client_id: 'c0', user_id: 'u0' }),
      family: row('f', { family_id: 'f1', code_hash: null, client_id: 'c0', user_id: 'u0' }),
      code: row('k', { family_id: 'f2', code_hash: 'k1', client_id: 'c0', user_id: 'u0' }),
      grant: row('g', { family_id: 'f3', code_hash: null, client_id: 'c3', user_id: 'u3' }),
      client: row('c', { family_id: 'f4', code_hash: null, client_id: 'c4', user_id: 'u0' }),
      user: row('u', { family_id: 'f5', code_hash: null, client_id: 'c0', user_id: 'u5' }),
      kept: row('x', { family_id: 'f9', code_hash: null, client_id: 'c3', user_id: 'u0' }),
    };
    for (const r of Object.values(rows)) await cache.get(r.token_hash, async () => r);
    for (const r of Object.values(rows)) expect(cache.holds(r.token_hash)).toBe(true);
    await storage.db.transaction().execute((trx) =>
      feed.record(trx, [
        { kind: 'token', key: 't' },
        { kind: 'family', key: 'f1' },
        { kind: 'code', key: 'k1' },
        { kind: 'grant', key: 'u3 c3' },
        { kind: 'client', key: 'c4' },
        { kind: 'user', key: 'u5' },
      ]),
    );
    await feed.catchUp();
    await until(() => feed.fresh, { timeoutMs: 1000, intervalMs: 10, message: 'the feed to be fresh' });
    expect(Object.values(rows).filter((r) => cache.holds(r.token_hash)).map((r) => r.token_hash)).toEqual(['x']);
  });

  it.skipIf(!dialectAvailable(dialect))('a lookup that overlapped an invalidation does not fill the cache; refresh tokens are never kept', async () => {
    const feed = await newFeed(storage);
    const cache = accessTokenCache<CacheableToken>(feed, 100);
    await until(() => feed.fresh, { timeoutMs: 500, intervalMs: 10, message: 'the feed to be fresh' });
    let finishLoad!: () => void;
    const slow = cache.get('h2', () => new Promise((resolve) => (finishLoad = () => resolve(row('h2')))));
    await storage.db.transaction().execute((trx) => feed.record(trx, [{ kind: 'user', key: 'someone' }]));
    await feed.catchUp();
    finishLoad();
    await slow;
    await until(() => feed.fresh, { timeoutMs: 1000, intervalMs: 10, message: 'the feed to be fresh' });
    expect(cache.holds('h2')).toBe(false);
    await cache.get('h3', async () => row('h3', { kind: 'refresh' }));
    expect(cache.holds('h3')).toBe(false);
    await cache.get('h4', async () => row('h4'));
    expect(cache.holds('h4')).toBe(true);
  });
});
