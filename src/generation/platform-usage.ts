import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

const DAY_MS = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The calls usage totals count: succeeded, or charged though they did not (as UsageService counts them). */
const counted = (eb: ExpressionBuilder<Database, 'usage_records'>) =>
  eb.or([eb.and([eb('status', '>=', 200), eb('status', '<', 300)]), eb('prompt_tokens', '>', 0), eb('completion_tokens', '>', 0), eb('images', '>', 0)]);

interface UsageTotals {
  tokens: number;
  images: number;
  requests: number;
}

/** The whole platform's usage over the last `days` days (SPEC §12, the admin console's Usage page). */
export interface PlatformUsage {
  days: Array<UsageTotals & { date: string }>;
  topApps: Array<UsageTotals & { clientId: string; name: string | null }>;
  topUsers: Array<UsageTotals & { userId: string; username: string | null }>;
}

/** Every process reads it on request; an operator's page, not a hot path. */
async function platformUsage(db: Kysely<Database>, now: number, days = 30, top = 10): Promise<PlatformUsage> {
  const since = utcDay(now - (days - 1) * DAY_MS);
  const totals = (eb: ExpressionBuilder<Database, 'usage_records'>) => [
    eb(eb.fn.sum<number>('prompt_tokens'), '+', eb.fn.sum<number>('completion_tokens')).as('tokens'),
    eb.fn.sum<number>('images').as('images'),
    eb.fn.countAll<number>().as('requests'),
  ];
  const base = db.selectFrom('usage_records').where('day', '>=', since).where(counted);
  const [perDay, apps, users] = await Promise.all([
    base.select((eb) => ['day', ...totals(eb)]).groupBy('day').orderBy('day', 'desc').execute(),
    base
      .select((eb) => ['client_id', eb.fn.max('client_name').as('name'), ...totals(eb)])
      .where('client_id', 'is not', null)
      .groupBy('client_id')
      .orderBy('tokens', 'desc')
      .limit(top)
      .execute(),
    // Grouped first, named after: a join before the grouping looked up the user of every record (1M lookups).
    base.select((eb) => ['user_id', ...totals(eb)]).groupBy('user_id').orderBy('tokens', 'desc').limit(top).execute(),
  ]);
  const names = users.length === 0 ? [] : await db.selectFrom('users').select(['id', 'username']).where('id', 'in', users.map((u) => u.user_id)).execute();
  const username = new Map(names.map((u) => [u.id, u.username]));
  const numbers = (r: { tokens: unknown; images: unknown; requests: unknown }): UsageTotals => ({ tokens: Number(r.tokens ?? 0), images: Number(r.images ?? 0), requests: Number(r.requests) });
  return {
    days: perDay.map((r) => ({ date: r.day, ...numbers(r) })),
    topApps: apps.map((r) => ({ clientId: r.client_id!, name: r.name ?? null, ...numbers(r) })),
    topUsers: users.map((r) => ({ userId: r.user_id, username: username.get(r.user_id) ?? null, ...numbers(r) })),
  };
}

/** How long a computed report is served as it is, and how old one may be before a page waits for a new one. */
export const REPORT_FRESH_MS = 5 * 60_000;
export const REPORT_STALE_MS = 60 * 60_000;

/**
 * The Usage page's report, computed at most once per REPORT_FRESH_MS per process. Summing 30 days of every call
 * takes seconds at a million records (bench/admin-lists.mjs), so a page is served from the last report: as it is
 * while fresh, and while it is less than REPORT_STALE_MS old as it is while a new one is computed behind it (once,
 * however many pages ask); an older one, or none, is waited for. The page says what moment it shows.
 */
export class PlatformUsageReport {
  private last: { at: number; report: PlatformUsage } | null = null;
  private computing: Promise<{ at: number; report: PlatformUsage }> | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
  ) {}

  async read(): Promise<{ at: number; report: PlatformUsage }> {
    const age = this.last === null ? Infinity : this.now() - this.last.at;
    if (this.last !== null && age < REPORT_FRESH_MS) return this.last;
    if (this.last !== null && age < REPORT_STALE_MS) {
      // A failed refresh keeps the last report; the next page asks again.
      this.refresh().catch(() => undefined);
      return this.last;
    }
    return this.refresh();
  }

  private refresh(): Promise<{ at: number; report: PlatformUsage }> {
    this.computing ??= (async () => {
      try {
        const at = this.now();
        this.last = { at, report: await platformUsage(this.db, at) };
        return this.last;
      } finally {
        this.computing = null;
      }
    })();
    return this.computing;
  }
}
