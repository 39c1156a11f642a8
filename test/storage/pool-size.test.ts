import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startInstance } from '../helpers/server.js';

if (!PG_URL) console.warn('TEST_DATABASE_URL_PG is not set: the DATABASE_POOL_SIZE test is skipped');

/**
 * DATABASE_POOL_SIZE reaches the pool of a started server: more slow queries
 * than the pool holds run on exactly that many connections at once, as
 * PostgreSQL itself sees them (pg_stat_activity, by the instance's
 * application_name), the rest waiting their turn.
 */
describe.skipIf(!PG_URL)('DATABASE_POOL_SIZE', () => {
  let database: TestDatabase;
  let admin: pg.Client;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    admin = new pg.Client(PG_URL);
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await database?.cleanup();
  });

  /** The most of `queries` concurrent 1-second sleeps PostgreSQL sees running at once for a server started with env. */
  async function concurrentSleeps(env: Record<string, string>, queries: number): Promise<{ running: number; waiting: number }> {
    const name = `serika-pool-${randomBytes(4).toString('hex')}`;
    const url = new URL(database.url);
    url.searchParams.set('application_name', name);
    const instance = await startInstance(url.toString(), env);
    try {
      const sleeps = Array.from({ length: queries }, () => sql`select pg_sleep(1)`.execute(instance.server.storage.db));
      let running = 0;
      let waiting = 0;
      // Sampled for 0.8 s: the first wave of sleeps is running throughout, and no second wave has started.
      for (let sample = 0; sample < 8; sample++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const { rows } = await admin.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where application_name = $1 and state = 'active' and query like '%pg_sleep%'`,
          [name],
        );
        running = Math.max(running, Number(rows[0]!.n));
        waiting = Math.max(waiting, instance.server.storage.poolStats!().waiting);
      }
      await Promise.all(sleeps);
      return { running, waiting };
    } finally {
      await instance.close();
    }
  }

  it('runs at most DATABASE_POOL_SIZE queries at once per process', async () => {
    const { running, waiting } = await concurrentSleeps({ DATABASE_POOL_SIZE: '3' }, 8);
    expect(running).toBe(3);
    // The five sleeps left over, and whatever the server itself asked meanwhile (its outbox reads).
    expect(waiting).toBeGreaterThanOrEqual(5);
  }, 30_000);

  it('keeps 10 connections when unset', async () => {
    const { running, waiting } = await concurrentSleeps({}, 12);
    expect(running).toBe(10);
    expect(waiting).toBeGreaterThanOrEqual(2);
  }, 30_000);
});
