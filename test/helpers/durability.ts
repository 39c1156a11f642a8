import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { closeServices, createServices, type Services } from '../../src/services.js';
import { openStorage } from '../../src/storage/database.js';
import type { Dialect } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

export interface CrashBed {
  /** A SQLite file of its own, for servers spawned (and killed) by the test. */
  readonly databaseUrl: string;
  readonly upstream: () => FakeUpstream;
  /** Services over the same file (the CLI's way in), for setup and inspection between server lives. */
  withServices<T>(run: (s: Services) => Promise<T>): Promise<T>;
}

/** For kill -9 tests: a temporary SQLite file and a fake upstream, both gone after the suite. */
export function crashBed(name: string): CrashBed {
  const dir = mkdtempSync(join(tmpdir(), `serika-${name}-`));
  const databaseUrl = `sqlite:${join(dir, `${name}.db`)}`;
  let up: FakeUpstream;
  beforeAll(async () => {
    up = await startFakeUpstream();
  });
  afterAll(async () => {
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { databaseUrl, upstream: () => up, withServices: (run) => withServicesOn(databaseUrl, run) };
}

/** Services over a database the test's servers use (the CLI's way in), migrated first; closed after `run`. */
async function withServicesOn<T>(databaseUrl: string, run: (s: Services) => Promise<T>): Promise<T> {
  const storage = openStorage(databaseUrl);
  await migrateToLatest(storage);
  const services = createServices(parseConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' }), storage);
  try {
    return await run(services);
  } finally {
    await closeServices(services);
    await storage.close();
  }
}

export interface DialectCrashBed {
  /** The suite's own database (a SQLite file, or a PostgreSQL schema), known once beforeAll has run. */
  databaseUrl(): string;
  withServices<T>(run: (s: Services) => Promise<T>): Promise<T>;
}

/**
 * crashBed for either dialect (call inside describe.each(DIALECTS), only when the dialect is available): a
 * fresh database of its own, created before the suite and gone after it. PostgreSQL survives a killed server
 * as SQLite's file does: what the dead process committed stays, its open transaction is rolled back.
 */
export function crashBedOn(dialect: Dialect, available: boolean): DialectCrashBed {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    if (available) database = await createTestDatabase(dialect);
  });
  afterAll(async () => database?.cleanup());
  const url = () => {
    if (!database) throw new Error(`no ${dialect} database for this suite`);
    return database.url;
  };
  return { databaseUrl: url, withServices: (run) => withServicesOn(url(), run) };
}
