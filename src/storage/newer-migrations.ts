import type { MigrationState, NewerMigration } from './migration-state.js';

/**
 * What a version does on a database that a newer version migrated (an old
 * instance mid-rollout, or started again after a rollback): it runs when
 * every migration it does not know recorded that older versions may, and
 * refuses, saying which and what to do, when one did not.
 */

const DOCS = 'docs/deploying.md, "Upgrades and rollbacks"';

/** Whether this version, knowing `known`, may run on the schema a newer migration left. */
export function allowsThisVersion(migration: NewerMigration, known: Readonly<Record<string, unknown>>): boolean {
  const older = migration.olderVersions;
  if (older === null) return false;
  if (older.compatible) return true;
  return older.unlessTheyHave !== undefined && Object.hasOwn(known, older.unlessTheyHave);
}

/** Why this version must not run on the database as it stands, or null when it may. */
export function refusal(state: MigrationState, known: Readonly<Record<string, unknown>>): string | null {
  const blocking = state.newer.find((migration) => !allowsThisVersion(migration, known));
  if (blocking) {
    const why =
      blocking.olderVersions === null
        ? 'which recorded nothing about older versions'
        : `which older versions cannot run on: ${blocking.olderVersions.compatible ? '' : blocking.olderVersions.breaks}`;
    const unless = blocking.olderVersions?.compatible === false ? blocking.olderVersions.unlessTheyHave : undefined;
    const runnable = unless ? `${blocking.name} or ${unless}` : blocking.name;
    return `this version cannot run on the database: a newer version applied its migration ${blocking.name}, ${why}. Run a version that has ${runnable}, or restore the backup taken before it was applied (${DOCS})`;
  }
  if (state.newer.length > 0 && state.pending.length > 0) {
    return `this version cannot run on the database: it has migrations this version does not know (${names(state.newer)}) but lacks ${state.pending[0]}, which this version has: another line of versions migrated it (${DOCS})`;
  }
  return null;
}

/** The one warning of a version running on a database a newer version migrated. */
export function newerWarning(newer: readonly NewerMigration[]): string {
  const these = newer.length === 1 ? 'its migration' : 'its migrations';
  return `the database was migrated by a newer version: ${these} ${names(newer)}, unknown to this version, recorded that older versions may run on it; running`;
}

function names(migrations: readonly NewerMigration[]): string {
  return migrations.map((m) => m.name).join(', ');
}
