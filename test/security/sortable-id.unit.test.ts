import { describe, expect, it } from 'vitest';
import { sortableId } from '../../src/security/secrets.js';

/** Usage and reservation rows are keyed by time-ordered ids, so their primary key grows at its right edge. */
describe('sortableId', () => {
  it('sorts by the millisecond it was made in, as text, whatever its random part', () => {
    const times = [0, 1, 15, 16, 255, 1_700_000_000_000, 1_700_000_000_001, 1_764_460_800_000, 2 ** 47];
    const ids = times.map((t) => sortableId('use_', t));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^use_[0-9a-f]{28}$/);
    expect(ids[5]!.slice(4, 16)).toBe((1_700_000_000_000).toString(16).padStart(12, '0'));
  });

  it('is unique within one millisecond (64 random bits)', () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => sortableId('rsv_', 1_764_460_800_000)));
    expect(ids.size).toBe(20_000);
  });
});
