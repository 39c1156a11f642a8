import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_EXIT } from '../../src/cli/migration-status.js';
import { parseConfig } from '../../src/config.js';
import { API_BASE } from '../../src/paths.js';
import { startServer } from '../../src/server.js';
import { openStorage } from '../../src/storage/database.js';
import { MIGRATION_LOCK } from '../../src/storage/migrate.js';
import { ROOT, runCli, spawnServer, type ServerProcess } from '../helpers/cli.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { migrations } from '../../src/storage/migrations/index.js';
import { ADDITIVE, BREAKING, additive, breaking, migrateAsNewerVersion } from '../helpers/newer-version.js';
import { call } from '../helpers/server.js';
import { until } from '../helpers/until.js';

/** A spawned server's origin: it prints its issuer, http://localhost:PORT, and listens on 127.0.0.1. */
const at = (server: ServerProcess) => server.url.replace('localhost', '127.0.0.1');

const WARNING = `the database was migrated by a newer version: its migration ${ADDITIVE}, unknown to this version, recorded that older versions may run on it; running`;

describe('docs/deploying.md, "Upgrades and rollbacks"', () => {
  it('states the exit codes of migrate status and the lock waits of the runner as the code has them', () => {
    const doc = readFileSync(join(ROOT, 'docs/deploying.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Upgrades and rollbacks'), doc.indexOf('\n## ', doc.indexOf('## Upgrades and rollbacks') + 1)).replace(/\s+/g, ' ');
    expect(section).toContain(`It exits ${STATUS_EXIT.upToDate} when the database is up to date for this version, ${STATUS_EXIT.pending} when migrations are pending, and ${STATUS_EXIT.refused} when this version refuses the database.`);
    const pauses = Array.from({ length: MIGRATION_LOCK.tries - 1 }, (_, i) => (MIGRATION_LOCK.firstPauseMs * 2 ** i) / 1000);
    expect(section).toContain(`waits at most ${MIGRATION_LOCK.timeoutMs / 1000} seconds for a table's lock`);
    expect(section).toContain(`tried again ${pauses.slice(0, -1).join(', ')} and ${pauses.at(-1)} seconds later. After the fourth try`);
    expect(MIGRATION_LOCK.tries).toBe(4);
    expect(section).toContain('npx serika migrate status');
  });
});

/**
 * docs/deploying.md, "Upgrades and rollbacks", with this build as the old
 * version (the built CLI and server, which know the product's migrations) and
 * a newer version played in process by the same code with a migration more.
 */
describe.each(DIALECTS)('an upgrade that can roll back (%s)', (dialect) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    env = { DATABASE_URL: database.url };
  });
  afterAll(async () => {
    await database?.cleanup();
  });

  describe.skipIf(!dialectAvailable(dialect))('old and new versions on one database', () => {
    it('migrate status says what is pending (exit 2) and then that the database is up to date (exit 0), changing nothing itself', async () => {
      const before = await runCli(['migrate', 'status'], env);
      expect(before.code, before.stderr).toBe(2);
      expect(before.stdout).toMatch(/^MIGRATION\s+STATE\s+APPLIED\s+OLDER VERSIONS\n0001_accounts_and_clients\s+pending\s+-\s+compatible\n/);
      expect(before.stdout).toMatch(/\n0006_agents\s+pending\s+-\s+breaking\n/);
      expect(before.stdout).toMatch(new RegExp(`\\n${Object.keys(migrations).length} pending: apply with npx serika migrate\\.\\n$`));
      expect((await runCli(['migrate', 'status'], env)).code).toBe(2);

      expect((await runCli(['migrate'], env)).code).toBe(0);
      const after = await runCli(['migrate', 'status'], env);
      expect(after.code, after.stderr).toBe(0);
      // The last migration of the sequence, whichever it is, then the verdict.
      const last = Object.keys(migrations).at(-1)!;
      expect(after.stdout).toMatch(new RegExp(`\\n${last}\\s+applied\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+(compatible|breaking)\\n\\nUp to date\\.\\n$`));
    });

    it('serves old and new side by side on the expanded schema, then the old version alone after a rollback', async () => {
      const created = await runCli(['users', 'create', '--username', 'rollout', '--password-stdin'], env, 'a good password\n');
      expect(created.code, created.stderr).toBe(0);
      const key = (await runCli(['keys', 'create', '--username', 'rollout'], env)).stdout.trim();
      let old: ServerProcess | undefined = await spawnServer(env);
      try {
        // 1. The new version migrates while the old one serves.
        const storage = openStorage(database.url);
        try {
          expect(await migrateAsNewerVersion(storage, { [ADDITIVE]: additive })).toEqual([ADDITIVE]);
        } finally {
          await storage.close();
        }
        // 2. New instances come up beside the old (a newer version's own start finds nothing to migrate).
        const config = parseConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
        const newer = await startServer(config, { skipMigrations: true });
        try {
          const client = await call('POST', `${at(old)}${API_BASE}/oauth/clients`, { key, json: { name: 'Rollout', redirectUris: ['https://rollout.example/cb'], scopes: ['profile'] } });
          expect(client.status, client.text).toBe(201);
          const listed = await call('GET', `${newer.url}${API_BASE}/oauth/clients`, { key });
          expect(listed.json.data.map((c: { name: string }) => c.name)).toEqual(['Rollout']);
          const character = await call('POST', `${newer.url}${API_BASE}/characters`, { key, json: { name: 'Nova', description: 'd', personality: 'p', greeting: 'hi' } });
          expect(character.status, character.text).toBe(201);
          expect((await call('GET', `${at(old)}${API_BASE}/characters/${character.json.id}`, { key })).status).toBe(200);
          for (const url of [at(old), newer.url]) expect((await call('GET', `${url}/readyz`)).status).toBe(200);
          // 3. An old instance started mid-rollout runs, with the one warning.
          const status = await runCli(['migrate', 'status'], env);
          expect(status.code, status.stderr).toBe(0);
          expect(status.stdout).toMatch(new RegExp(`\\n${ADDITIVE}\\s+newer\\s+\\S+\\s+compatible\\n`));
          expect(status.stdout).toContain(`\nRuns: ${WARNING}.\nUp to date.\n`);
        } finally {
          await newer.close();
        }
        // 4. Rollback: the new instances are gone; the old version starts again on the schema the new one left.
        await old.stop();
        old = await spawnServer(env);
        const running = old;
        const warnings = () => running.output().split('\n').filter((line) => line.includes('migrated by a newer version'));
        // The JSON log lines are written asynchronously: the warning may follow the start line.
        await until(() => warnings().length > 0, { message: 'the warning of a version older than the database' });
        expect(warnings().map((line) => JSON.parse(line) as { level: number; msg: string })).toEqual([expect.objectContaining({ level: 40, msg: WARNING })]);
        expect((await call('GET', `${at(old)}${API_BASE}/oauth/clients`, { key })).json.data).toHaveLength(1);
        const listed = await runCli(['keys', 'list', '--username', 'rollout'], env);
        expect(listed.code, listed.stderr).toBe(0);
        expect(listed.stderr).toContain(`serika: warning: ${WARNING}\n`);
      } finally {
        await old?.stop();
      }
    });

    it('refuses to start an old version past a breaking migration, naming it and what to do; status exits 3', async () => {
      const storage = openStorage(database.url);
      try {
        expect(await migrateAsNewerVersion(storage, { [ADDITIVE]: additive, [BREAKING]: breaking() })).toEqual([BREAKING]);
      } finally {
        await storage.close();
      }
      const refusal = `this version cannot run on the database: a newer version applied its migration ${BREAKING}, which older versions cannot run on: users.avatar is gone. Run a version that has ${BREAKING}, or restore the backup taken before it was applied (docs/deploying.md, "Upgrades and rollbacks")`;
      const serve = await runCli(['serve'], { ...env, PORT: '0' });
      expect(serve.code).toBe(1);
      expect(serve.stderr).toBe(`serika: cannot start: ${refusal}\n`);
      const command = await runCli(['keys', 'list', '--username', 'rollout'], env);
      expect(command.code).toBe(1);
      expect(command.stderr).toMatch(new RegExp(`^serika: this version cannot run on the database: a newer version applied its migration ${BREAKING},.*\\[database .*\\]\\n$`));
      const status = await runCli(['migrate', 'status'], env);
      expect(status.code).toBe(3);
      expect(status.stdout).toMatch(new RegExp(`\\n${BREAKING}\\s+newer\\s+\\S+\\s+breaking\\n\\nRefused: this version cannot run`));
    });
  });
});
