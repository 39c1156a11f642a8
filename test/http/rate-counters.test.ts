import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateCounter } from '../../src/http/rate-limit-store.js';
import { connectRedis } from '../../src/services.js';

const REDIS_URL = process.env.TEST_REDIS_URL;

/** The counters behind the rate limits, hit and given back (the sign-in limit's give-back), on both stores. */
describe.each([
  ['in-process windows', null],
  ['Redis', REDIS_URL ?? null],
] as const)('rate counters (%s)', (mode, url) => {
  const skip = mode === 'Redis' && !url;
  const redis = connectRedis(url);
  let counters: RateCounter;

  beforeAll(async () => {
    if (redis && redis.status !== 'ready') await new Promise((ready) => redis.once('ready', ready));
    counters = new RateCounter(redis);
  });
  afterAll(() => redis?.disconnect());

  it.skipIf(skip)('gives a hit back within its window, never below 0, and never starts a window', async () => {
    const key = `test:${randomUUID()}`;
    expect((await counters.giveBack(key)).current).toBe(0); // nothing to give back: no count, no window
    expect(await redis?.exists(`serika:rl:${key}`)).not.toBe(1);

    expect((await counters.hit(key, 60_000)).current).toBe(1);
    expect((await counters.hit(key, 60_000)).current).toBe(2);
    const back = await counters.giveBack(key);
    expect(back.current).toBe(1);
    expect(back.ttl).toBeGreaterThan(0); // the window keeps its end
    expect((await counters.giveBack(key)).current).toBe(0);
    expect((await counters.giveBack(key)).current).toBe(0);
    expect((await counters.hit(key, 60_000)).current).toBe(1);
  });
});
