import type { RateCounter } from '../http/rate-limit-store.js';

const HOUR_MS = 3_600_000;

/**
 * RATE_LIMIT_MAIL (SPEC §1): `perHour` messages per account, verification
 * messages per recipient, and mail-sending forms per address, counted in the rate-limit store (shared by instances
 * with Redis). Takes one; returns null when allowed, else the seconds until
 * one is. 0 turns the limit off.
 */
export function takeMailAllowance(counter: RateCounter, perHour: number, key: `mail:${'user' | 'ip' | 'to'}:${string}`): Promise<number | null> {
  return perHour > 0 ? counter.take(key, perHour, HOUR_MS) : Promise.resolve(null);
}
