import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { buildApp, type BuildOptions } from './app.js';
import { defaultPublicUrl, type Config } from './config.js';
import { createServices } from './services.js';
import { openStorage, type Storage } from './storage/database.js';
import { migrateToLatest } from './storage/migrate.js';

export interface RunningServer {
  app: FastifyInstance;
  storage: Storage;
  /** The address actually listened on, as a URL. */
  url: string;
  close(): Promise<void>;
}

export interface StartOptions extends BuildOptions {
  /** Skip migrations (cluster workers: the primary has migrated already). */
  skipMigrations?: boolean;
}

function listenUrl(address: AddressInfo): string {
  const host =
    address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '[::1]' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Opens the database, migrates it, builds the app and listens. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const storage = openStorage(config.databaseUrl);
  try {
    if (!options.skipMigrations) await migrateToLatest(storage);
    const app = await buildApp(createServices(config, storage), options);
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address() as AddressInfo;
    // PORT=0: the default issuer uses the port actually picked (SPEC §1).
    if (!config.publicUrlExplicit) config.publicUrl = defaultPublicUrl(address.port);
    let closing: Promise<void> | undefined;
    return {
      app,
      storage,
      url: listenUrl(address),
      close: () =>
        (closing ??= (async () => {
          await app.close();
          await storage.close();
        })()),
    };
  } catch (error) {
    await storage.close().catch(() => {});
    throw error;
  }
}

/** Closes the server on SIGINT/SIGTERM: in-flight requests finish, then the database closes. */
export function closeOnSignals(server: RunningServer, log: (message: string) => void): void {
  const stop = (signal: NodeJS.Signals) => {
    log(`Received ${signal}; shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
