import { describe, expect, it } from 'vitest';
import { allowsThisVersion, newerWarning, refusal } from '../../src/storage/newer-migrations.js';
import { COMPATIBLE } from '../../src/storage/migrations/older-versions.js';
import { APPLIED_AT, KNOWN, newer, state } from '../helpers/migration-states.js';

describe('what a version does about migrations a newer version applied', () => {
  it('runs past compatible ones, and past a contract step only when it has the migration the step names', () => {
    expect(allowsThisVersion(newer('0003_c', COMPATIBLE), KNOWN)).toBe(true);
    expect(allowsThisVersion(newer('0003_c', { compatible: false, breaks: 'x', unlessTheyHave: '0002_b' }), KNOWN)).toBe(true);
    expect(allowsThisVersion(newer('0003_c', { compatible: false, breaks: 'x', unlessTheyHave: '0003_expand' }), KNOWN)).toBe(false);
    expect(allowsThisVersion(newer('0003_c', { compatible: false, breaks: 'x' }), KNOWN)).toBe(false);
    expect(allowsThisVersion(newer('0003_c', null), KNOWN)).toBe(false);
    // A name on Object.prototype is no migration this version has.
    expect(allowsThisVersion(newer('0003_c', { compatible: false, breaks: 'x', unlessTheyHave: 'toString' }), KNOWN)).toBe(false);
  });

  it('names the first migration that forbids it, and refuses a database of another line of versions', () => {
    expect(refusal(state({ newer: [newer('0003_c', COMPATIBLE)] }), KNOWN)).toBeNull();
    expect(refusal(state({ newer: [newer('0003_c', COMPATIBLE), newer('0004_d', { compatible: false, breaks: 'd.y is gone' })] }), KNOWN)).toMatch(/applied its migration 0004_d, which older versions cannot run on: d\.y is gone\. Run a version that has 0004_d, or restore/);
    expect(refusal(state({ applied: [{ name: '0001_a', appliedAt: APPLIED_AT }], pending: ['0002_b'], newer: [newer('0003_c', COMPATIBLE)] }), KNOWN)).toMatch(/it has migrations this version does not know \(0003_c\) but lacks 0002_b, which this version has/);
  });

  it('warns in one line naming every newer migration', () => {
    expect(newerWarning([newer('0003_c', COMPATIBLE), newer('0004_d', COMPATIBLE)])).toBe('the database was migrated by a newer version: its migrations 0003_c, 0004_d, unknown to this version, recorded that older versions may run on it; running');
  });
});
