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
export async function platformUsage(db: Kysely<Database>, now: number, days = 30, top = 10): Promise<PlatformUsage> {
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
