import { describe, expect, it } from 'vitest';
import { BatchedReads, TurnBatches } from '../../src/storage/batched-reads.js';

interface Row {
  key: string;
  n: number;
}

/** A load that records every call's keys and answers the keys it knows. */
function loader(known: Record<string, number>) {
  const calls: string[][] = [];
  const load = async (keys: string[]) => {
    calls.push(keys);
    return keys.filter((k) => k in known).map((key) => ({ key, n: known[key]! }));
  };
  return { calls, reads: new BatchedReads<Row>(load, (row) => row.key) };
}

describe('batched reads by key', () => {
  it('reads the keys asked for within one event-loop turn with one load, each key once, and answers every caller its own row', async () => {
    const { calls, reads } = loader({ a: 1, b: 2 });
    const [a, b, missing, again] = await Promise.all([reads.get('a'), reads.get('b'), reads.get('c'), reads.get('a')]);
    expect(calls).toEqual([['a', 'b', 'c']]);
    expect(a).toEqual({ key: 'a', n: 1 });
    expect(b).toEqual({ key: 'b', n: 2 });
    expect(missing).toBeUndefined();
    // Two callers of one key: equal rows, not one object they could change under each other.
    expect(again).toEqual(a);
    expect(again).not.toBe(a);
  });

  it('a key asked for in a later turn is read by a load of its own, which does not wait for the one before', async () => {
    const known = { a: 1, b: 2 };
    const calls: string[][] = [];
    let release: () => void = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    const reads = new BatchedReads<Row>(async (keys) => {
      calls.push(keys);
      if (keys.includes('a')) await slow;
      return keys.map((key) => ({ key, n: known[key as 'a' | 'b'] }));
    }, (row) => row.key);
    const first = reads.get('a');
    await new Promise((resolve) => setImmediate(resolve));
    const second = await reads.get('b');
    expect(second).toEqual({ key: 'b', n: 2 });
    expect(calls).toEqual([['a'], ['b']]);
    release();
    expect(await first).toEqual({ key: 'a', n: 1 });
  });

  it('a failed load fails every read of its batch, and only those', async () => {
    let fail = true;
    const reads = new BatchedReads<Row>(async (keys) => {
      if (fail) throw new Error('connection lost');
      return keys.map((key) => ({ key, n: 0 }));
    }, (row) => row.key);
    const results = await Promise.allSettled([reads.get('a'), reads.get('b'), reads.get('a')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    fail = false;
    expect(await reads.get('a')).toEqual({ key: 'a', n: 0 });
  });

  it('hands over the items of one turn in groups of at most its maximum', async () => {
    const groups: number[][] = [];
    const batches = new TurnBatches<number>((items) => groups.push(items), 3);
    for (let i = 0; i < 7; i++) batches.push(i);
    expect(groups).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(groups).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
  });
});
