import { performance } from 'node:perf_hooks';
import { sql, type Kysely } from 'kysely';
import type { Storage } from './database.js';
import type { Database } from './schema.js';
import { prepared } from './prepared.js';

/**
 * What a change ended: one token, a token family, the tokens of a code, a grant (`userId clientId`), a client or a
 * user; or what it changed: a grant's budget (`userId clientId`: every instance's lease of it takes no new holds).
 */
type InvalidationKind = 'token' | 'family' | 'code' | 'grant' | 'client' | 'user' | 'budget';

export interface Invalidation {
  kind: InvalidationKind;
  key: string;
}

/** The key of a grant's invalidation: the user and the client. */
export function grantKey(userId: string, clientId: string): string {
  return `${userId} ${clientId}`;
}

export type InvalidationListener = (events: Invalidation[]) => void;

/** PostgreSQL NOTIFY channel that wakes every process's feed the moment a change commits. */
const CHANNEL = 'serika_invalidations';
/** Outbox rows are read within a second; the pruner keeps them an hour. */
const KEEP_MS = 3_600_000;

export interface FeedOptions {
  /** How often the outbox is read when nothing wakes the feed (the bound on delivery when NOTIFY is down). */
  pollMs?: number;
  /** Caches are bypassed when the last good read of the outbox is older than this. */
  staleMs?: number;
  /** A hole in the ids this old is a rolled-back transaction's (tests shorten it). */
  holeMs?: number;
}

/**
 * The invalidation channel between processes: a transactional outbox. A
 * change that ends tokens records what it ended in its own transaction
 * (record), so no invalidation is ever announced for a change that rolled
 * back or lost for one that committed; every process reads the rows in id
 * order and tells its caches (subscribe). On PostgreSQL a NOTIFY sent in the
 * same transaction wakes every process as it commits; the poll is the
 * backstop, and a feed that could not read the outbox for staleMs is not
 * fresh, so caches answer from the database until it reads again.
 * Works alike for workers of one machine and instances of one database.
 */
export class InvalidationFeed {
  /** Bumped whenever something may have ended: a lookup begun before must not fill a cache. */
  epoch = 0;
  private watermark = 0;
  /** Ids above the watermark already applied (PostgreSQL may commit ids out of order). */
  private readonly applied = new Set<number>();
  private holeSince: number | null = null;
  /** This process's own changes not yet read back as committed: caches stay off meanwhile. */
  private readonly inFlight = new Map<number, number>();
  private lastRead = -Infinity;
  private readonly listeners: InvalidationListener[] = [];
  private readonly pollMs: number;
  private readonly staleMs: number;
  private readonly holeMs: number;
  private readonly selectAfter;
  private timer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private running = false;

  constructor(
    private readonly storage: Storage,
    options: FeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 100;
    this.staleMs = options.staleMs ?? 1_000;
    this.holeMs = options.holeMs ?? 5_000;
    this.selectAfter = prepared(storage.db, (d) =>
      d.selectFrom('cache_invalidations').select(['id', 'kind', 'key']).where('id', '>', 0).orderBy('id').limit(1000),
    );
  }

  subscribe(listener: InvalidationListener): void {
    this.listeners.push(listener);
  }

  /** Milliseconds since the outbox was last read (what the lag metric reports); null while the feed is not running. */
  get lagMs(): number | null {
    return this.running ? performance.now() - this.lastRead : null;
  }

  /** True when caches may answer: the outbox was read within staleMs and none of this process's own changes is still on its way. */
  get fresh(): boolean {
    return this.running && this.inFlight.size === 0 && performance.now() - this.lastRead < this.staleMs;
  }

  /** Announces, inside the caller's transaction and after the change, what it ended. */
  async record(trx: Kysely<Database>, events: Invalidation[]): Promise<void> {
    if (events.length === 0) return;
    this.epoch++;
    const createdAt = Date.now();
    const rows = await trx
      .insertInto('cache_invalidations')
      .values(events.map((e) => ({ kind: e.kind, key: e.key, created_at: createdAt })))
      .returning('id')
      .execute();
    const at = performance.now();
    for (const row of rows) this.inFlight.set(Number(row.id), at);
    if (this.storage.dialect === 'postgres') await sql`select pg_notify(${CHANNEL}, '')`.execute(trx);
    // SQLite: this read waits for the transaction's connection, so it sees the commit.
    this.wake();
  }

  /** Starts reading the outbox from its current end (nothing is cached before). */
  async start(): Promise<void> {
    if (this.running) return;
    const row = await this.storage.db
      .selectFrom('cache_invalidations')
      .select((eb) => eb.fn.max('id').as('last'))
      .executeTakeFirst();
    this.watermark = Number(row?.last ?? 0);
    this.lastRead = performance.now();
    this.running = true;
    this.timer = setInterval(() => this.wake(), this.pollMs).unref();
    this.stopListening = this.storage.listen?.(CHANNEL, () => this.wake());
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    await this.stopListening?.();
    await this.reading;
  }

  /** Reads the outbox now and resolves when what it held has been applied. */
  async catchUp(): Promise<void> {
    this.wake();
    while (this.reading) await this.reading;
  }

  /** Rows older than an hour (run in the pruner's transaction). */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    const result = await trx.deleteFrom('cache_invalidations').where('created_at', '<', now - KEEP_MS).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private wake(): void {
    if (!this.running) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.read()
      .catch(() => {}) // not fresh until a read succeeds: caches answer from the database meanwhile
      .finally(() => {
        this.reading = null;
        if (this.readAgain) {
          this.readAgain = false;
          this.wake();
        }
      });
  }

  private async read(): Promise<void> {
    const started = performance.now();
    const { rows } = await this.selectAfter(this.watermark, 1000);
    const events: Invalidation[] = [];
    for (const row of rows) {
      const id = Number(row.id);
      this.inFlight.delete(id);
      if (id <= this.watermark || this.applied.has(id)) continue;
      this.applied.add(id);
      events.push({ kind: row.kind as InvalidationKind, key: row.key });
    }
    this.advance(started);
    for (const [id, at] of this.inFlight) if (started - at > this.holeMs) this.inFlight.delete(id); // rolled back
    if (events.length > 0) {
      this.epoch++;
      for (const listener of this.listeners) listener(events);
    }
    this.lastRead = started;
  }

  /** Moves the watermark over contiguous applied ids; a hole that stays holeMs is a rollback and is stepped over. */
  private advance(now: number): void {
    for (;;) {
      while (this.applied.delete(this.watermark + 1)) this.watermark++;
      if (this.applied.size === 0) {
        this.holeSince = null;
        return;
      }
      this.holeSince ??= now;
      if (now - this.holeSince < this.holeMs) return;
      this.watermark = Math.min(...this.applied) - 1;
      this.holeSince = null;
    }
  }
}
