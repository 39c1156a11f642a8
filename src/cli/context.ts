import { ConfigError, loadDotEnv, parseConfig, type Config } from '../config.js';
import { createServices, type Services } from '../services.js';
import { openStorage } from '../storage/database.js';
import { migrateToLatest } from '../storage/migrate.js';

/** A failing command prints one line on stderr and exits 1 (SPEC §1). */
export function fail(message: string): never {
  console.error(`serika: ${message.split('\n')[0]}`);
  process.exit(1);
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // Connection failures from pg carry only a code (ECONNREFUSED) and an address.
    if (error.message === '' && typeof code === 'string') return code;
    return error.message;
  }
  return String(error);
}

export function loadConfig(): Config {
  try {
    loadDotEnv();
    return parseConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    fail(describeError(error));
  }
}

/**
 * Every command migrates first (SPEC §1), then runs with the services and
 * closes the database whatever happens; any error becomes the one-line failure.
 */
export async function withServices<T>(action: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let storage;
  try {
    storage = openStorage(config.databaseUrl);
  } catch (error) {
    fail(`cannot open the database: ${describeError(error)}`);
  }
  try {
    await migrateToLatest(storage);
    return await action(createServices(config, storage));
  } catch (error) {
    await storage.close().catch(() => {});
    fail(describeError(error));
  } finally {
    await storage.close().catch(() => {});
  }
}
