import type { Command } from 'commander';
import { databaseNote, databaseOption, describeError, fail, loadConfig, openDatabase } from './context.js';

export function migrateCommand(program: Command): void {
  databaseOption(program.command('migrate'))
    .description('apply pending database migrations to DATABASE_URL and exit')
    .action(async () => {
      const config = loadConfig();
      const storage = await openDatabase(config);
      try {
        const { migrateToLatest } = await import('../storage/migrate.js');
        const applied = await migrateToLatest(storage);
        console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
        console.error(`serika: used the ${databaseNote(config)}`);
      } catch (error) {
        await storage.close().catch(() => {});
        fail(`${describeError(error)} [${databaseNote(config)}]`);
      }
      await storage.close();
    });
}
