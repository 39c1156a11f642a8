import type { MigrationState, NewerMigration } from '../../src/storage/migration-state.js';
import { COMPATIBLE, type SerikaMigration } from '../../src/storage/migrations/older-versions.js';

/** For unit tests: a version of two migrations, the second breaking, and states of a database against it. */
const up = async () => {};
export const KNOWN: Record<string, SerikaMigration> = {
  '0001_a': { olderVersions: COMPATIBLE, up },
  '0002_b': { olderVersions: { compatible: false, breaks: 'b.x is gone' }, up },
};
export const APPLIED_AT = '2026-01-02T03:04:05.678Z';

export const newer = (name: string, olderVersions: NewerMigration['olderVersions']): NewerMigration => ({ name, appliedAt: APPLIED_AT, olderVersions });

/** Both migrations applied, nothing else, unless `over` says otherwise. */
export const state = (over: Partial<MigrationState>): MigrationState => ({
  applied: Object.keys(KNOWN).map((name) => ({ name, appliedAt: APPLIED_AT })),
  pending: [],
  newer: [],
  unrecorded: [],
  ...over,
});
