// What `serika serve` runs, loaded only when it runs (serve.ts defines the command).
import cluster, { type Worker } from 'node:cluster';
import { pino } from 'pino';
import { loggerOptions } from '../http/logging.js';
import { serveClusterMetrics } from '../http/metrics.js';
import { prepareDatabase } from '../prepare-database.js';
import { closeOnSignals, freePort, startServer } from '../server.js';
import { describeError, fail, loadConfig, openDatabase } from './context.js';
import { checkConnections, startWarnings } from './preflight.js';

type WorkerMessage = { type: 'listening'; url: string };

function announce(url: string): void {
  // The one plain line on stdout that scripts wait for (SPEC §1).
  process.stdout.write(`Serika listening on ${url}\n`);
}

export async function serveSingle(): Promise<void> {
  const config = loadConfig();
  try {
    await checkConnections(config);
    const server = await startServer(config);
    closeOnSignals(server);
    for (const warning of startWarnings(config)) server.app.log.warn(warning);
    // The issuer, not the socket address: the URL people copy must pass discovery's issuer check.
    announce(server.config.publicUrl);
  } catch (error) {
    fail(`cannot start: ${describeError(error)}`);
  }
}

export async function serveWorker(): Promise<void> {
  const config = loadConfig();
  try {
    const server = await startServer(config, { skipMigrations: true });
    closeOnSignals(server);
    process.send?.({ type: 'listening', url: server.config.publicUrl } satisfies WorkerMessage);
  } catch (error) {
    fail(`worker cannot start: ${describeError(error)}`);
  }
}

/** node:cluster primary: migrate once, fork N workers sharing one port, replace any that die. */
export async function servePrimary(workers: number): Promise<void> {
  const config = loadConfig();
  // The primary's lines are JSON like the workers' (one log format for the whole deployment).
  const log = pino(loggerOptions(config.logLevel));
  // The workers do not check again: the primary has, just now.
  await checkConnections(config).catch((error: unknown) => fail(`cannot start: ${describeError(error)}`));
  const storage = await openDatabase(config);
  try {
    await prepareDatabase(storage, config, (message) => log.warn(message));
  } catch (error) {
    await storage.close().catch(() => {});
    fail(`cannot start: ${describeError(error)}`);
  }
  await storage.close();
  for (const warning of startWarnings(config)) log.warn(warning);
  // PORT=0: every worker must listen on the same port, and derive the same issuer from it.
  if (config.port === 0) process.env.PORT = String(await freePort(config.host));

  serveClusterMetrics();
  let stopping = false;
  let announced = false;
  const ready = new Set<number>();
  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: WorkerMessage) => {
      if (message?.type !== 'listening') return;
      ready.add(worker.id);
      if (!announced && ready.size >= workers) {
        announced = true;
        announce(message.url);
      }
    });
    return worker;
  };
  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    if (!announced) fail(`a worker failed to start (exit ${code ?? signal})`);
    log.warn({ pid: worker.process.pid, exit: code ?? signal }, 'worker exited; starting a replacement');
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    log.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, `received ${signal}; each worker drains and stops`);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(1), config.shutdownDrainMs + config.shutdownTimeoutMs + 15_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for (let i = 0; i < workers; i++) fork();
}
