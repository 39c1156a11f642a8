import type { Command } from 'commander';
import { resolve } from 'node:path';
import { databaseNote, databaseOption, describeError, fail, loadConfig, openDatabase } from './context.js';

export function backupCommand(program: Command): void {
  databaseOption(program.command('backup'))
    .description('copy the SQLite database to a new file with the online backup API (safe while servers run); for PostgreSQL use pg_dump')
    .requiredOption('--to <file>', 'the backup file to create (must not exist)')
    .action(async (options: { to: string }) => {
      const config = loadConfig();
      const storage = await openDatabase(config);
      try {
        if (!storage.backup) {
          throw new Error('serika backup copies SQLite databases; for PostgreSQL use pg_dump -Fc (see docs/deploying.md, "Backups")');
        }
        const destination = resolve(options.to);
        const pages = await storage.backup(destination);
        console.log(`Backed up ${pages} pages to ${destination}`);
        console.error(`serika: used the ${databaseNote(config)}`);
      } catch (error) {
        await storage.close().catch(() => {});
        fail(`${describeError(error)} [${databaseNote(config)}]`);
      }
      await storage.close();
    });
}
