import { describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';

/** The tests' one wait: a bounded poll that returns what it waited for, or names it when it gives up. */
describe('until', () => {
  it('polls until the condition holds and returns its value', async () => {
    let calls = 0;
    const value = await until(async () => ++calls >= 3 && `after ${calls}`, { intervalMs: 1, message: 'three calls' });
    expect(value).toBe('after 3');
    expect(calls).toBe(3);
  });

  it('throws, naming what was awaited, once the time is up', async () => {
    let calls = 0;
    await expect(until(() => (calls++, false), { timeoutMs: 30, intervalMs: 5, message: 'a thing that never happens' })).rejects.toThrow(
      'timed out after 30 ms waiting for a thing that never happens',
    );
    expect(calls).toBeGreaterThan(1);
  });
});
