import type { Command } from 'commander';
import { databaseNote, databaseOption, describeError, fail, loadConfig, openDatabase, warn } from './context.js';

export function migrateCommand(program: Command): void {
  const migrate = databaseOption(program.command('migrate'))
    .description('apply pending database migrations to DATABASE_URL and exit')
    .action(async () => {
      const config = loadConfig();
      const storage = await openDatabase(config);
      try {
        const { migrateToLatest } = await import('../storage/migrate.js');
        const applied = await migrateToLatest(storage, { warn });
        console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
        console.error(`serika: used the ${databaseNote(config)}`);
      } catch (error) {
        await storage.close().catch(() => {});
        fail(`${describeError(error)} [${databaseNote(config)}]`);
      }
      await storage.close();
    });
  databaseOption(migrate.command('status'))
    .description('show applied, pending and newer (a newer version\'s) migrations and whether older versions run on each; changes nothing; exits 0 when up to date, 2 with migrations pending, 3 when this version refuses the database')
    .action(async () => {
      const config = loadConfig();
      const storage = await openDatabase(config);
      let report: { text: string; exitCode: number };
      try {
        const [{ readMigrationState }, { migrations }, { migrationStatus }] = await Promise.all([
          import('../storage/migration-state.js'),
          import('../storage/migrations/index.js'),
          import('./migration-status.js'),
        ]);
        report = migrationStatus(await readMigrationState(storage, migrations), migrations);
      } catch (error) {
        await storage.close().catch(() => {});
        fail(`${describeError(error)} [${databaseNote(config)}]`);
      }
      await storage.close();
      console.log(report.text);
      console.error(`serika: used the ${databaseNote(config)}`);
      process.exitCode = report.exitCode;
    });
}
