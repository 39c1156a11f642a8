import cluster, { type Worker } from 'node:cluster';
import type { Command } from 'commander';
import { pino } from 'pino';
import { loggerOptions } from '../http/logging.js';
import { serveClusterMetrics } from '../http/metrics.js';
import { closeOnSignals, freePort, prepareDatabase, startServer } from '../server.js';
import { openStorage } from '../storage/database.js';
import { describeError, fail, loadConfig } from './context.js';

type WorkerMessage = { type: 'listening'; url: string };

function announce(url: string): void {
  // The one plain line on stdout that scripts wait for (SPEC §1).
  process.stdout.write(`Serika listening on ${url}\n`);
}

async function serveSingle(): Promise<void> {
  const config = loadConfig();
  try {
    const server = await startServer(config);
    closeOnSignals(server);
    // The issuer, not the socket address: the URL people copy must pass discovery's issuer check.
    announce(server.config.publicUrl);
  } catch (error) {
    fail(`cannot start: ${describeError(error)}`);
  }
}

async function serveWorker(): Promise<void> {
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
async function servePrimary(workers: number): Promise<void> {
  const config = loadConfig();
  // The primary's lines are JSON like the workers' (one log format for the whole deployment).
  const log = pino(loggerOptions(config.logLevel));
  const storage = openStorage(config.databaseUrl);
  try {
    await prepareDatabase(storage, config);
  } catch (error) {
    await storage.close().catch(() => {});
    fail(`cannot start: ${describeError(error)}`);
  }
  await storage.close();
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

function parseWorkers(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 256) fail(`--workers takes a whole number from 1 to 256, not ${JSON.stringify(value)}`);
  return n;
}

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('migrate the database, then serve HTTP on HOST:PORT (what npm start runs)')
    .option('--workers <n>', 'run N processes on one port (node:cluster)', parseWorkers)
    .action(async (options: { workers?: number }) => {
      if (cluster.isWorker) return serveWorker();
      if (options.workers !== undefined && options.workers > 1) return servePrimary(options.workers);
      return serveSingle();
    });
}
