import type { Command } from 'commander';
import { databaseOption, withServices } from './context.js';

export function pruneCommand(program: Command): void {
  databaseOption(program.command('prune'))
    .description('delete expired codes and device codes, pending requests, tokens (a day past expiry), sessions and login failures, and ownerless clients unused for 30 days, release the spending-limit holds of calls and instances that died, and delete audit events older than AUDIT_RETENTION_DAYS, now; usage is kept (servers also do this hourly)')
    .action(async () => {
      const counts = await withServices(async (s) => {
        const { pruneOnce } = await import('../pruner.js');
        const result = await pruneOnce(s);
        if (!result) throw new Error('another instance is pruning right now; try again in a moment');
        return result;
      });
      for (const [what, n] of Object.entries(counts)) console.log(`${what.padEnd(16)} ${n}`);
    });
}
