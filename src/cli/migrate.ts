import type { Command } from 'commander';
import { openStorage } from '../storage/database.js';
import { migrateToLatest } from '../storage/migrate.js';
import { describeError, fail, loadConfig } from './context.js';

export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations to DATABASE_URL and exit')
    .action(async () => {
      const config = loadConfig();
      const storage = openStorage(config.databaseUrl);
      try {
        const applied = await migrateToLatest(storage);
        console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
      } catch (error) {
        await storage.close().catch(() => {});
        fail(describeError(error));
      }
      await storage.close();
    });
}
