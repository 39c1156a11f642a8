import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Says plainly which service-backed suites run (SPEC §1: skipped suites say
 * so), and names this run's PostgreSQL schemas. They are dropped here, after
 * every file. (A schema dropped while another file's migrator listed the
 * tables of every schema failed that file, "schema t_… does not exist"; the
 * introspector now reads its own schema only, storage/pg-introspector.ts.)
 */
export default function setup(): (() => Promise<void>) | void {
  // Both service-backed projects name this file (vitest.config.ts); the first to start does the work.
  if (process.env.SERIKA_TEST_SCHEMA_RUN) return;
  const run = randomBytes(4).toString('hex');
  // Inherited by the test workers, which start after this (helpers/databases.ts).
  process.env.SERIKA_TEST_SCHEMA_RUN = run;
  if (!process.env.TEST_DATABASE_URL_PG) {
    console.warn('[serika tests] TEST_DATABASE_URL_PG is not set: PostgreSQL suites are skipped (SQLite only).');
  }
  if (!process.env.TEST_REDIS_URL) {
    console.warn('[serika tests] TEST_REDIS_URL is not set: Redis suites are skipped.');
  }
  const url = process.env.TEST_DATABASE_URL_PG;
  if (!url) return;
  return async () => {
    const client = new pg.Client(url);
    await client.connect();
    try {
      const { rows } = await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like $1`, [`t\\_${run}\\_%`]);
      for (const { nspname } of rows) await client.query(`drop schema if exists "${nspname}" cascade`);
    } finally {
      await client.end();
    }
  };
}
