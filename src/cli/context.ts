import type { Command } from 'commander';
import { ConfigError, loadDotEnv, maskCredentials, parseConfig, type Config } from '../config.js';
import type { Services } from '../services.js';
import type { Storage } from '../storage/database.js';
import { connectionFailure } from './connection-failures.js';

/** A failing command prints one line on stderr and exits 1 (SPEC §1); never a password from a URL. */
export function fail(message: string): never {
  console.error(`serika: ${maskCredentials(message.split('\n')[0] ?? '')}`);
  process.exit(1);
}

/** A warning from a command: one line on stderr, the command goes on. */
export function warn(message: string): void {
  console.error(`serika: warning: ${message}`);
}

export function describeError(error: unknown): string {
  const failure = connectionFailure(error);
  if (failure !== undefined) return maskCredentials(failure);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // Connection failures from pg carry only a code (ECONNREFUSED) and an address.
    if (error.message === '' && typeof code === 'string') return code;
    return maskCredentials(error.message);
  }
  return maskCredentials(String(error));
}

/**
 * Opens DATABASE_URL's storage, or fails with the one line naming the
 * database. What an action runs is imported when it runs (here and in every
 * command): `--help`, a bad flag or a command that needs only the database
 * never loads the server's modules (0.8 s of loading; the tests start the CLI often).
 */
export async function openDatabase(config: Config): Promise<Storage> {
  const { openStorage } = await import('../storage/database.js');
  try {
    return openStorage(config.databaseUrl, { poolSize: config.databasePoolSize, onWarning: warn });
  } catch (error) {
    fail(`cannot open the ${databaseNote(config)}: ${describeError(error)}`);
  }
}

/** Where DATABASE_URL came from, said with the database so a key made in the wrong one is easy to spot. */
let databaseSource = 'DATABASE_URL';

/**
 * `--database-url URL` on a command: the database to use, over DATABASE_URL
 * and .env (the CLI otherwise uses the server's environment).
 */
export function databaseOption(command: Command): Command {
  return command
    .option('--database-url <url>', 'the database to use (default: DATABASE_URL from the environment or .env, else sqlite:./data/serika.db)')
    .hook('preAction', (_command, action) => {
      const url = action.opts().databaseUrl as string | undefined;
      if (url !== undefined) {
        process.env.DATABASE_URL = url;
        databaseSource = '--database-url';
      }
    });
}

export function loadConfig(): Config {
  try {
    loadDotEnv();
    if (databaseSource === 'DATABASE_URL' && !process.env.DATABASE_URL?.trim()) databaseSource = 'the default; set DATABASE_URL or --database-url';
    return parseConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    fail(describeError(error));
  }
}

/** "database sqlite:./data/serika.db (the default; …)", password masked. */
export function databaseNote(config: Config): string {
  return `database ${maskCredentials(config.databaseUrl)} (${databaseSource})`;
}

/**
 * Every command migrates first (SPEC §1), then runs with the services and
 * closes everything it opened (database, Redis, upstream pool) so the process
 * exits; it says on stderr which database it used. Any error becomes the
 * one-line failure, naming the database too.
 */
export async function withServices<T>(action: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const [{ prepareDatabase }, { closeServices, createServices }] = await Promise.all([import('../prepare-database.js'), import('../services.js')]);
  const storage = await openDatabase(config);
  let services: Services | undefined;
  let result: { value: T } | { error: unknown };
  try {
    await prepareDatabase(storage, config, warn);
    services = createServices(config, storage);
    result = { value: await action(services) };
  } catch (error) {
    result = { error };
  }
  if (services) await closeServices(services).catch(() => {});
  await storage.close().catch(() => {});
  if ('error' in result) fail(`${describeError(result.error)} [${databaseNote(config)}]`);
  console.error(`serika: used the ${databaseNote(config)}`);
  return result.value;
}
