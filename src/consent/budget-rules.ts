import type { BudgetPeriod } from '../storage/schema.js';

export type { BudgetPeriod };

/** What the user allows an app to spend (SPEC §10): tokens and/or images per period. */
export interface BudgetLimit {
  tokens: number | null;
  images: number | null;
  period: BudgetPeriod;
}

export const BUDGET_TYPE = 'serika_budget';
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['day', 'month', 'total'];
/** Far beyond any real limit; keeps every sum inside a 64-bit integer and a JS number. */
export const MAX_BUDGET = 1_000_000_000_000;
/** RFC 9396 details are a short JSON array; anything longer is refused unread. */
const MAX_DETAILS_LENGTH = 4096;

export class InvalidAuthorizationDetails extends Error {}

/** The calendar period (UTC) a moment falls in: its start (ms); 0 for total. */
export function periodStart(period: BudgetPeriod, now: number): number {
  const d = new Date(now);
  if (period === 'day') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (period === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return 0;
}

/** When the period that began at `start` ends; null for total, which never resets. */
export function periodEnd(period: BudgetPeriod, start: number): number | null {
  if (period === 'day') return start + 86_400_000;
  if (period === 'month') {
    const d = new Date(start);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return null;
}

function amount(entry: Record<string, unknown>, field: 'tokens' | 'images'): number | null {
  const value = entry[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_BUDGET) {
    throw new InvalidAuthorizationDetails(`${BUDGET_TYPE}.${field} must be a whole number from 0 to ${MAX_BUDGET}.`);
  }
  return value;
}

/**
 * RFC 9396 `authorization_details` as Serika reads them: a JSON array whose
 * only known type is serika_budget (§2: an unknown type is an error). Returns
 * the budget asked for, or null when the array asks for none.
 */
export function parseAuthorizationDetails(raw: string): BudgetLimit | null {
  if (raw.length > MAX_DETAILS_LENGTH) throw new InvalidAuthorizationDetails(`authorization_details may be at most ${MAX_DETAILS_LENGTH} characters.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidAuthorizationDetails('authorization_details must be a JSON array (RFC 9396 §2).');
  }
  if (!Array.isArray(parsed)) throw new InvalidAuthorizationDetails('authorization_details must be a JSON array (RFC 9396 §2).');
  let budget: BudgetLimit | null = null;
  for (const entry of parsed) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new InvalidAuthorizationDetails('Each authorization_details entry must be an object.');
    const fields = entry as Record<string, unknown>;
    if (fields.type !== BUDGET_TYPE) throw new InvalidAuthorizationDetails(`Unknown authorization_details type ${JSON.stringify(String(fields.type ?? '(none)')).slice(0, 60)}; Serika knows ${BUDGET_TYPE}.`);
    if (budget) throw new InvalidAuthorizationDetails(`authorization_details may hold one ${BUDGET_TYPE}.`);
    const period = fields.period ?? 'month';
    if (typeof period !== 'string' || !(BUDGET_PERIODS as readonly string[]).includes(period)) {
      throw new InvalidAuthorizationDetails(`${BUDGET_TYPE}.period must be one of ${BUDGET_PERIODS.join(', ')}.`);
    }
    const tokens = amount(fields, 'tokens');
    const images = amount(fields, 'images');
    if (tokens === null && images === null) throw new InvalidAuthorizationDetails(`${BUDGET_TYPE} needs tokens, images or both.`);
    budget = { tokens, images, period: period as BudgetPeriod };
  }
  return budget;
}

/** The budget as RFC 9396 details, as the token response and introspection carry it. */
export function authorizationDetailsOf(limit: BudgetLimit): Array<Record<string, unknown>> {
  return [{ type: BUDGET_TYPE, ...(limit.tokens !== null ? { tokens: limit.tokens } : {}), ...(limit.images !== null ? { images: limit.images } : {}), period: limit.period }];
}

/**
 * SPEC §10: a prompt estimate that errs high — UTF-8 bytes ÷ 2, rounded up — of the whole request body, not the
 * messages alone: tools, functions and response_format reach the model's prompt too, and so may any field an
 * upstream knows and Serika does not (the few bytes of the model name and the knobs only err high).
 */
export function promptEstimate(body: Record<string, unknown>): number {
  return Math.ceil(Buffer.byteLength(JSON.stringify(body), 'utf8') / 2);
}
