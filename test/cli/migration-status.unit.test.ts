import { describe, expect, it } from 'vitest';
import { migrationStatus, STATUS_EXIT } from '../../src/cli/migration-status.js';
import { APPLIED_AT, KNOWN, newer, state } from '../helpers/migration-states.js';

describe('migrate status', () => {
  it('says which pending migration ends the rollback to the version running now, and exits 2', () => {
    const report = migrationStatus(state({ applied: [{ name: '0001_a', appliedAt: APPLIED_AT }], pending: ['0002_b'] }), KNOWN);
    expect(report.exitCode).toBe(STATUS_EXIT.pending);
    expect(report.text).toBe(
      [
        'MIGRATION  STATE    APPLIED               OLDER VERSIONS',
        '0001_a     applied  2026-01-02T03:04:05Z  compatible',
        '0002_b     pending  -                     breaking',
        '',
        'Once 0002_b is applied, versions without it refuse to start: b.x is gone.',
        '1 pending: apply with npx serika migrate.',
      ].join('\n'),
    );
  });

  it('exits 3 with the refusal when this version would not run, 0 when it runs on newer migrations', () => {
    expect(migrationStatus(state({ newer: [newer('0003_c', null)] }), KNOWN)).toMatchObject({ exitCode: STATUS_EXIT.refused, text: expect.stringMatching(/\n0003_c\s+newer\s+2026-01-02T03:04:05Z\s+not recorded\n\nRefused: this version cannot run/) });
    expect(migrationStatus(state({ newer: [newer('0003_c', { compatible: false, breaks: 'x', unlessTheyHave: '0002_b' })] }), KNOWN)).toMatchObject({
      exitCode: STATUS_EXIT.upToDate,
      text: expect.stringMatching(/\n0003_c\s+newer\s+\S+\s+breaking \(runs from 0002_b\)\n\nRuns: the database was migrated by a newer version: .*\.\nUp to date\.$/),
    });
  });
});
