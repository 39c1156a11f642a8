import { describe, expect, it } from 'vitest';
import { DELIVERY_TIMEOUT_MS, EventSender } from '../../src/events/sender.js';
import { nextAttemptAt, RETRY_SCHEDULE_MS } from '../../src/events/types.js';

const S = 1_000;
const MIN = 60 * S;
const H = 60 * MIN;

/** SPEC §13: "retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (then failed)"; "2xx within 10 s". */
describe('the delivery schedule of SPEC §13', () => {
  it('waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each failed try, then gives up', () => {
    const now = 1_700_000_000_000;
    const waits = [5 * S, 5 * MIN, 30 * MIN, 2 * H, 5 * H, 10 * H, 10 * H];
    expect([...RETRY_SCHEDULE_MS]).toEqual(waits);
    // `attempts`: the tries made before the one that just failed.
    for (const [attempts, wait] of waits.entries()) expect(nextAttemptAt(attempts, now)).toBe(now + wait);
    // The eighth try failed: the event has failed, never tried again.
    expect(nextAttemptAt(7, now)).toBeNull();
    expect(nextAttemptAt(8, now)).toBeNull();
  });

  it('gives a try 10 s by default', () => {
    expect(DELIVERY_TIMEOUT_MS).toBe(10_000);
    expect(new EventSender({ allowPrivate: false }).timeoutMs).toBe(10_000);
    expect(new EventSender({ allowPrivate: false, timeoutMs: 250 }).timeoutMs).toBe(250);
  });
});
