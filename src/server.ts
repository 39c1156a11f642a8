import type { FastifyInstance } from 'fastify';
import { createServer, isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildApp, type BuildOptions } from './app.js';
import { defaultPublicUrl, type Config } from './config.js';
import { closeListener, shortenKeepAlive } from './http/drain.js';
import { redisState } from './http/health.js';
import { schedulePruning } from './pruner.js';
import { createServices, type Services } from './services.js';
import { openStorage, type Storage } from './storage/database.js';
import { prepareDatabase } from './prepare-database.js';
import { KeyEncryption } from './security/key-encryption.js';
import { keyEncryptionWarnings } from './security/sealed-columns.js';
import type { Tracing } from './tracing/tracing.js';

export interface RunningServer {
  app: FastifyInstance;
  storage: Storage;
  services: Services;
  /** The configuration served with: PORT=0 resolved to the port listened on. */
  config: Config;
  /** The address actually listened on, as a URL. */
  url: string;
  /** Stops now: streams still open end at once with an error event, charged (SPEC §10). */
  close(): Promise<void>;
  /** The graceful stop of SIGTERM: drain, let in-flight requests finish, end what remains (see shutdown()). */
  shutdown(): Promise<void>;
}

export interface StartOptions extends BuildOptions {
  /** Skip migrations (cluster workers: the primary has migrated already). */
  skipMigrations?: boolean;
  /** The services' clock (ms); Date.now by default. Tests move it to reach expiries without waiting for them. */
  now?: () => number;
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
async function resolvePort(config: Config): Promise<Config> {
  if (config.port !== 0) return Object.freeze({ ...config });
  const port = await freePort(config.host);
  const publicUrl = config.publicUrlExplicit ? config.publicUrl : defaultPublicUrl(port);
  // OPERATOR_NAME's default is the issuer's host, port included: the port just picked.
  const operatorName = config.operatorName === new URL(config.publicUrl).host ? new URL(publicUrl).host : config.operatorName;
  return Object.freeze({ ...config, port, publicUrl, operatorName });
}

/** Opens the database, migrates it, builds the app and listens. */
export async function startServer(given: Config, options: StartOptions = {}): Promise<RunningServer> {
  // Said once the app's logger exists.
  const warnings: string[] = [];
  // OTEL_*: the SDK is loaded only when traces are asked for (and before the first statement).
  const tracing: Tracing | null = given.tracing ? await (await import('./tracing/start.js')).startTracing(given.tracing) : null;
  const storage = openStorage(given.databaseUrl, { poolSize: given.databasePoolSize, onWarning: (message) => warnings.push(message), tracing });
  try {
    if (!options.skipMigrations) await prepareDatabase(storage, given, (message) => warnings.push(message));
    if (given.smtpUrl === null && given.publicUrl.startsWith('https:')) {
      warnings.push('SMTP_URL is not set: verification and password-reset mail is written to the log (one "mail" line each) instead of being sent');
    }
    warnings.push(...(await keyEncryptionWarnings(given.publicUrl, storage.db, new KeyEncryption(given.keyEncryptionSecrets))));
    // WebAuthn §5.1.2: an RP ID is a domain; browsers refuse passkeys for an IP address.
    if (isIP(new URL(given.publicUrl).hostname.replace(/^\[|\]$/g, '')) !== 0) {
      warnings.push('PUBLIC_URL names an IP address: browsers refuse passkeys there (WebAuthn needs a host name, such as localhost)');
    }
    // A picked port can be taken by someone else before we listen on it: pick again.
    for (let attempt = 1; ; attempt++) {
      const config = await resolvePort(given);
      const services = createServices(config, storage, options.now ?? Date.now, tracing);
      const app = await buildApp(services, options);
      try {
        await app.listen({ port: config.port, host: config.host });
      } catch (error) {
        await app.close();
        if (given.port === 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
        throw error;
      }
      await services.invalidations.start();
      services.mailWorker.start(app.log);
      services.eventWorker.start(app.log);
      const stopPruning = schedulePruning(services, app.log);
      warnIfRedisAway(services, app.log);
      for (const message of warnings) app.log.warn(message);
      let closing: Promise<void> | undefined;
      const close = () =>
        (closing ??= (async () => {
          stopPruning();
          await app.close();
          await services.invalidations.stop();
          await storage.close();
          await tracing?.shutdown();
        })());
      let stopping: Promise<void> | undefined;
      return {
        app,
        storage,
        services,
        config,
        url: listenUrl(app.server.address() as AddressInfo),
        close: () => {
          // Not the graceful stop: open streams, and those the apps left that are read on for their usage, end now (charged).
          services.lifecycle.ending.abort();
          return close();
        },
        shutdown: () => (stopping ??= shutdown(app, services, config, close)),
      };
    }
  } catch (error) {
    await storage.close().catch(() => {});
    await tracing?.shutdown().catch(() => {});
    throw error;
  }
}

/** REDIS_URL set but Redis not answering within a few seconds of start: say so once, and keep serving (it is optional). */
function warnIfRedisAway(services: Services, log: FastifyInstance['log']): void {
  const redis = services.redis;
  if (!redis) return;
  const timer = setTimeout(() => {
    if (redis.status !== 'ready') {
      log.warn({ redis: redisState(redis) }, 'REDIS_URL is set but Redis does not answer: rate limits are counted per instance until it does (/readyz and serika_redis_up report it)');
    }
  }, 3000);
  timer.unref();
  redis.once('ready', () => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A graceful stop, each phase logged:
 * 1. drain: /readyz answers 503 at once while everything is still served for
 *    SHUTDOWN_DRAIN, so the load balancer notices before connections are refused;
 *    responses say Connection: close, so proxies retire their connections
 *    themselves instead of sending on one being closed, except in the drain's
 *    last second (a quarter of it at most), when a proxy that still sends
 *    (nginx) keeps the connections it opens (http/drain.ts);
 * 2. close: no new connections; those just accepted get a moment to send their
 *    request (http/drain.ts closeListener), then idle ones close; in-flight requests
 *    get up to SHUTDOWN_TIMEOUT, and the stop goes on as soon as the last one is answered;
 * 3. end: streams still open end with an error event (and are metered), the
 *    remaining connections close, then the database.
 */
async function shutdown(app: FastifyInstance, services: Services, config: Config, close: () => Promise<void>): Promise<void> {
  const log = app.log;
  services.lifecycle.draining = true;
  services.lifecycle.retiringConnections = true;
  shortenKeepAlive(app.server);
  log.info({ phase: 'drain', drainSeconds: config.shutdownDrainMs / 1000 }, 'shutdown: readiness is 503; still serving while the load balancer notices');
  // The drain's last moment keeps connections open, so the listener closes with no new ones queued (http/drain.ts).
  const settleMs = Math.min(1000, config.shutdownDrainMs / 4);
  await sleep(config.shutdownDrainMs - settleMs);
  services.lifecycle.retiringConnections = false;
  await sleep(settleMs);
  services.lifecycle.retiringConnections = true;
  log.info({ phase: 'close', timeoutSeconds: config.shutdownTimeoutMs / 1000 }, 'shutdown: no new connections; waiting for in-flight requests');
  const answered = closeListener(app.server).then(() => true);
  const finished = await Promise.race([answered, sleep(config.shutdownTimeoutMs).then(() => false)]);
  if (!finished) {
    log.warn({ phase: 'end' }, 'shutdown: in-flight requests outlived SHUTDOWN_TIMEOUT; ending open streams');
    services.lifecycle.ending.abort();
    // Give ended streams a moment to write their error event and usage row, then cut what is left.
    await Promise.race([answered, sleep(2_000)]);
    app.server.closeAllConnections();
    await answered;
  }
  // Every connection is gone: Fastify's close (its server.close() finds the listener closed already), then the database.
  await close();
  log.info({ phase: 'done' }, 'shutdown: complete');
}

/** SIGINT/SIGTERM run the graceful shutdown once; the process exits 0 when it is done (1 if it fails). */
export function closeOnSignals(server: RunningServer): void {
  const stop = (signal: NodeJS.Signals) => {
    server.app.log.info({ signal }, `received ${signal}; shutting down`);
    const limit = server.config.shutdownDrainMs + server.config.shutdownTimeoutMs + 10_000;
    setTimeout(() => process.exit(1), limit).unref();
    server.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
