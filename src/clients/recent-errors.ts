import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/** How many errors each client keeps (SPEC §12). */
export const RECENT_ERRORS_KEPT = 100;
/** Writes wait this long to be batched; the request that failed never waits for them. */
const FLUSH_DELAY_MS = 50;
/** Beyond this many unwritten errors (a flood, or the database away), new ones are dropped, not queued. */
const QUEUE_MAX = 5000;
const TEXT_MAX = 500;

export type ErrorEndpoint = 'authorize' | 'token' | 'device_authorization';

/**
 * One OAuth error as the app's developer sees it (SPEC §12). Only what the
 * error response already told the app, and the redirect URI it sent: never a
 * secret, code, token or verifier, which no error description carries.
 */
export interface ClientErrorEntry {
  clientId: string;
  endpoint: ErrorEndpoint;
  error: string;
  description: string | null;
  redirectUri: string | null;
  /**
   * Set when the request did not authenticate as the client (it only claimed its client_id): then the entry is kept
   * for a public client alone. Anyone knowing a confidential client's id could otherwise fill its last 100 with
   * entries of their making, redirect URIs included, and push the real ones out.
   */
  claimedOnly?: boolean;
}

export interface RecordedClientError {
  at: number;
  endpoint: string;
  error: string;
  description: string | null;
  redirectUri: string | null;
}

interface Log {
  warn(details: object, message: string): void;
}

/**
 * "Recent errors" per client, the last 100 authorization and token errors.
 * Recording is fire-and-forget: entries are queued and written in a batch a
 * moment later, each client's rows then pruned to the last 100, so the
 * token endpoint never waits on it, and a failed write is a log line, never
 * a failed request. An entry for a client_id nobody registered, or only
 * claimed for a confidential client, is dropped by the insert itself (it
 * writes only where the client exists, and is public when only claimed).
 */
export class ClientErrorLog {
  private queue: Array<ClientErrorEntry & { at: number }> = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private log: Log | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  logTo(log: Log): void {
    this.log = log;
  }

  record(entry: ClientErrorEntry): void {
    if (this.queue.length >= QUEUE_MAX || entry.clientId === '' || entry.clientId.length > 2048) return;
    this.queue.push({ ...entry, at: this.now() });
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, FLUSH_DELAY_MS);
    this.timer.unref();
  }

  /** Writes what is queued (also on close, and by tests that read at once). */
  async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }

  private async write(batch: Array<ClientErrorEntry & { at: number }>): Promise<void> {
    if (batch.length === 0) return;
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const entry of batch) {
          await trx
            .insertInto('client_errors')
            .columns(['client_id', 'created_at', 'endpoint', 'error', 'error_description', 'redirect_uri'])
            .expression((eb) =>
              eb
                .selectFrom('oauth_clients')
                .select([
                  'id',
                  // PostgreSQL types a bare parameter of a SELECT list as text.
                  sql<number>`cast(${entry.at} as bigint)`.as('created_at'),
                  eb.val(entry.endpoint).as('endpoint'),
                  eb.val(entry.error.slice(0, 100)).as('error'),
                  eb.val(entry.description?.slice(0, TEXT_MAX) ?? null).as('error_description'),
                  eb.val(entry.redirectUri?.slice(0, TEXT_MAX) ?? null).as('redirect_uri'),
                ])
                .where('id', '=', entry.clientId)
                .$if(entry.claimedOnly === true, (qb) => qb.where('is_public', '=', 1)),
            )
            .execute();
        }
        for (const clientId of new Set(batch.map((e) => e.clientId))) {
          const keep = await trx.selectFrom('client_errors').select('id').where('client_id', '=', clientId).orderBy('id', 'desc').offset(RECENT_ERRORS_KEPT - 1).limit(1).executeTakeFirst();
          if (keep) await trx.deleteFrom('client_errors').where('client_id', '=', clientId).where('id', '<', keep.id).execute();
        }
      });
    } catch (error) {
      this.log?.warn({ err: error, dropped: batch.length }, 'recent client errors could not be recorded');
    }
  }

  /** The client's recent errors, newest first. */
  async list(clientId: string): Promise<RecordedClientError[]> {
    const rows = await this.db
      .selectFrom('client_errors')
      .select(['created_at', 'endpoint', 'error', 'error_description', 'redirect_uri'])
      .where('client_id', '=', clientId)
      .orderBy('id', 'desc')
      .limit(RECENT_ERRORS_KEPT)
      .execute();
    return rows.map((r) => ({ at: Number(r.created_at), endpoint: r.endpoint, error: r.error, description: r.error_description, redirectUri: r.redirect_uri }));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }
}
