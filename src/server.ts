import type { FastifyInstance } from 'fastify';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildApp, type BuildOptions } from './app.js';
import { defaultPublicUrl, type Config } from './config.js';
import { createServices, type Services } from './services.js';
import { openStorage, type Storage } from './storage/database.js';
import { migrateToLatest } from './storage/migrate.js';

export interface RunningServer {
  app: FastifyInstance;
  storage: Storage;
  services: Services;
  /** The configuration served with: PORT=0 resolved to the port listened on. */
  config: Config;
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

/** A port free on host right now (the kernel's pick for port 0). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * PORT=0: the port is picked before the app is built, so the configuration
 * (and the default issuer derived from it, SPEC §1) never changes afterwards.
 */
export async function resolvePort(config: Config): Promise<Config> {
  if (config.port !== 0) return Object.freeze({ ...config });
  const port = await freePort(config.host);
  return Object.freeze({ ...config, port, publicUrl: config.publicUrlExplicit ? config.publicUrl : defaultPublicUrl(port) });
}

/** Opens the database, migrates it, builds the app and listens. */
export async function startServer(given: Config, options: StartOptions = {}): Promise<RunningServer> {
  const storage = openStorage(given.databaseUrl);
  try {
    if (!options.skipMigrations) await migrateToLatest(storage);
    // A picked port can be taken by someone else before we listen on it: pick again.
    for (let attempt = 1; ; attempt++) {
      const config = await resolvePort(given);
      const services = createServices(config, storage);
      const app = await buildApp(services, options);
      try {
        await app.listen({ port: config.port, host: config.host });
      } catch (error) {
        await app.close();
        if (given.port === 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
        throw error;
      }
      let closing: Promise<void> | undefined;
      return {
        app,
        storage,
        services,
        config,
        url: listenUrl(app.server.address() as AddressInfo),
        close: () =>
          (closing ??= (async () => {
            await app.close();
            await storage.close();
          })()),
      };
    }
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
