import type { MigrationState } from '../storage/migration-state.js';
import type { OlderVersions, SerikaMigration } from '../storage/migrations/older-versions.js';
import { newerWarning, refusal } from '../storage/newer-migrations.js';
import { table, when } from './table.js';

/** `serika migrate status`'s exit codes, for deploy scripts (README, "The CLI"); 1 is any failure to look. */
export const STATUS_EXIT = { upToDate: 0, pending: 2, refused: 3 } as const;

function olderColumn(older: OlderVersions | null): string {
  if (older === null) return 'not recorded';
  if (older.compatible) return 'compatible';
  return older.unlessTheyHave ? `breaking (runs from ${older.unlessTheyHave})` : 'breaking';
}

/**
 * The database against this version's migrations: each applied, pending or
 * newer (applied by a newer version, unknown here) migration, whether older
 * versions run on what it leaves, then what this version would do.
 */
export function migrationStatus(state: MigrationState, known: Readonly<Record<string, SerikaMigration>>): { text: string; exitCode: number } {
  const rows = [
    ['MIGRATION', 'STATE', 'APPLIED', 'OLDER VERSIONS'],
    ...state.applied.map((m) => [m.name, 'applied', when(Date.parse(m.appliedAt)), olderColumn(known[m.name]!.olderVersions)]),
    ...state.newer.map((m) => [m.name, 'newer', when(Date.parse(m.appliedAt)), olderColumn(m.olderVersions)]),
    ...state.pending.map((name) => [name, 'pending', '-', olderColumn(known[name]!.olderVersions)]),
  ];
  const lines = [table(rows), ''];
  const refused = refusal(state, known);
  if (refused) return { text: [...lines, `Refused: ${refused}.`].join('\n'), exitCode: STATUS_EXIT.refused };
  if (state.newer.length > 0) lines.push(`Runs: ${newerWarning(state.newer)}.`);
  if (state.pending.length === 0) return { text: [...lines, 'Up to date.'].join('\n'), exitCode: STATUS_EXIT.upToDate };
  // An upgrade's breaking migrations end the rollback to the version running now (a fresh install has nothing to roll back to).
  for (const name of state.applied.length > 0 ? state.pending : []) {
    const older = known[name]!.olderVersions;
    if (!older.compatible) lines.push(`Once ${name} is applied, versions without it refuse to start: ${older.breaks}.`);
  }
  lines.push(`${state.pending.length} pending: apply with npx serika migrate.`);
  return { text: lines.join('\n'), exitCode: STATUS_EXIT.pending };
}
