import cluster from 'node:cluster';
import type { Command } from 'commander';
import { fail } from './context.js';

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
      const { serveSingle, servePrimary, serveWorker } = await import('./serving.js');
      if (cluster.isWorker) return serveWorker();
      if (options.workers !== undefined && options.workers > 1) return servePrimary(options.workers);
      return serveSingle();
    });
}
