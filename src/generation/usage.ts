import type { ExpressionBuilder, Insertable, Kysely } from 'kysely';
import { commitOne, ownTransaction, type BatchItem, type Transactor, type Work } from '../storage/group-commit.js';
import type { UsageBatches } from './usage-batches.js';
import { sql } from 'kysely';
import { sortableId } from '../security/secrets.js';
import { preparedNamed } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';

/** Who a generation is for and through what: an OAuth client, or an API key (clientId null). */
export interface Principal {
  userId: string;
  clientId: string | null;
  apiKeyId: string | null;
  /** A sub-agent token's hash and its sub-agent ancestors', leaf first (SPEC §15): their caps apply too. */
  agents?: readonly string[] | null;
}

export interface UsageEntry {
  principal: Principal;
  clientName: string | null;
  endpoint: 'chat.completions' | 'images.generations' | 'responses' | 'embeddings';
  model: string | null;
  promptTokens: number;
  completionTokens: number;
  images: number;
  status: number;
  latencyMs: number;
}

export interface UsageDay {
  date: string;
  clientId: string | null;
  clientName: string | null;
  promptTokens: number;
  completionTokens: number;
  images: number;
  requests: number;
}

const DAY_MS = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0);

/**
 * The calls the totals count: those that succeeded, and those charged though they did not (a stream the app
 * left or a shutdown cut, SPEC §10). A failed call is charged nothing (the meter records it with no tokens).
 */
const counted = (eb: ExpressionBuilder<Database, 'usage_records'>) =>
  eb.or([eb.and([eb('status', '>=', 200), eb('status', '<', 300)]), eb('prompt_tokens', '>', 0), eb('completion_tokens', '>', 0), eb('images', '>', 0)]);

/** The columns of a usage row, as the prepared insert names them. */
const USAGE_COLUMNS = ['id', 'user_id', 'client_id', 'client_name', 'api_key_id', 'endpoint', 'model', 'prompt_tokens', 'completion_tokens', 'images', 'status', 'latency_ms', 'day', 'created_at'] as const;

/** Usage metering: one row per generation, committed before the response ends (SPEC §5). */
export class UsageService {
  /** Every generation's insert, compiled once for this database. */
  private readonly insert = preparedNamed(USAGE_COLUMNS, (db: Kysely<Database>, p) => db.insertInto('usage_records').values(p));

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly transact: Transactor = ownTransaction(db),
    /** PostgreSQL: rows of concurrent calls written together, one commit for all (usage-batches.ts). */
    private readonly batches: UsageBatches | null = null,
  ) {}

  /**
   * One call's row, committed before this resolves, with what commits beside it: `alongside`'s writes (who owns the
   * response it made, SPEC §14) and `settle`, the call's budget settlement, whose result this resolves with.
   */
  async record<R = undefined>(entry: UsageEntry, beside: { alongside?: Work<void>; settle?: BatchItem<R> } = {}): Promise<R | undefined> {
    const row = this.row(entry);
    const { alongside, settle } = beside;
    if (this.batches && !settle?.batch.solo) return (await this.batches.write(row, alongside, settle)) as R | undefined;
    const write = async (trx: Kysely<Database>) => {
      await this.insert(trx, row);
      await alongside?.(trx);
    };
    if (settle) return commitOne(this.transact, settle, write);
    await this.transact(write);
    return undefined;
  }

  private row(entry: UsageEntry): Required<Insertable<Database['usage_records']>> {
    const now = this.now();
    return {
      // Time-ordered: each usage commit appends to the primary key's last page instead of a random page per row.
      id: sortableId('use_', now),
      user_id: entry.principal.userId,
      client_id: entry.principal.clientId,
      client_name: entry.clientName,
      api_key_id: entry.principal.apiKeyId,
      endpoint: entry.endpoint,
      model: entry.model?.slice(0, 200) ?? null,
      prompt_tokens: count(entry.promptTokens),
      completion_tokens: count(entry.completionTokens),
      images: count(entry.images),
      status: entry.status,
      latency_ms: Math.max(0, Math.round(entry.latencyMs)),
      day: utcDay(now),
      created_at: now,
    };
  }

  /** Totals per app over the last 30 days, with when each was last used; keyed by client ID ('' for API keys). */
  async totalsByApp(userId: string): Promise<Map<string, { promptTokens: number; completionTokens: number; images: number; requests: number; lastUsedAt: number }>> {
    const since = utcDay(this.now() - 29 * DAY_MS);
    const rows = await this.db
      .selectFrom('usage_records')
      .select([
        'client_id',
        (eb) => eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        (eb) => eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
        (eb) => eb.fn.sum<number>('images').as('images'),
        (eb) => eb.fn.countAll<number>().as('requests'),
        (eb) => eb.fn.max('created_at').as('last_used_at'),
      ])
      .where('user_id', '=', userId)
      .where('day', '>=', since)
      .where(counted)
      .groupBy('client_id')
      .execute();
    return new Map(
      rows.map((r) => [
        r.client_id ?? '',
        {
          promptTokens: Number(r.prompt_tokens),
          completionTokens: Number(r.completion_tokens),
          images: Number(r.images),
          requests: Number(r.requests),
          lastUsedAt: Number(r.last_used_at),
        },
      ]),
    );
  }

  /** Days of the last 30 on which an app's calls were refused by the user's spending limit (SPEC §10), with how many. */
  async limitHits(userId: string): Promise<Array<{ date: string; clientId: string; clientName: string | null; refused: number }>> {
    const since = utcDay(this.now() - 29 * DAY_MS);
    const rows = await this.db
      .selectFrom('usage_records')
      .select(['day', 'client_id', (eb) => eb.fn.max('client_name').as('client_name'), (eb) => eb.fn.countAll<number>().as('refused')])
      .where('user_id', '=', userId)
      .where('day', '>=', since)
      .where('status', '=', 429)
      .where('latency_ms', '=', 0)
      .where('client_id', 'is not', null)
      .groupBy(['day', 'client_id'])
      .orderBy('day', 'asc')
      .execute();
    return rows.map((r) => ({ date: r.day, clientId: r.client_id!, clientName: r.client_name ?? null, refused: Number(r.refused) }));
  }

  /** SPEC §5 `GET /usage`: per day and client, the last 30 days, the calls that succeeded or were charged. */
  async lastThirtyDays(userId: string): Promise<UsageDay[]> {
    const since = utcDay(this.now() - 29 * DAY_MS);
    const rows = await this.db
      .selectFrom('usage_records')
      .select([
        'day',
        'client_id',
        (eb) => eb.fn.max('client_name').as('client_name'),
        (eb) => eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        (eb) => eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
        (eb) => eb.fn.sum<number>('images').as('images'),
        (eb) => eb.fn.countAll<number>().as('requests'),
      ])
      .where('user_id', '=', userId)
      .where('day', '>=', since)
      .where(counted)
      .groupBy(['day', 'client_id'])
      .orderBy('day', 'asc')
      .orderBy(sql`coalesce(client_id, '')`)
      .execute();
    return rows.map((r) => ({
      date: r.day,
      clientId: r.client_id,
      clientName: r.client_id === null ? null : (r.client_name ?? null),
      promptTokens: Number(r.prompt_tokens),
      completionTokens: Number(r.completion_tokens),
      images: Number(r.images),
      requests: Number(r.requests),
    }));
  }
}
