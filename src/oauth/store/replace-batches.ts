import { sql, type Kysely } from 'kysely';
import { TurnBatches } from '../../storage/batched-reads.js';
import { preparedRaw } from '../../storage/prepared.js';
import type { Database, OAuthTokensTable } from '../../storage/schema.js';
import { TOKEN_COLUMNS, TOKEN_COLUMN_TYPES, type Consumed } from './token-columns.js';

/** One redemption's or rotation's write: the code or refresh token it uses, and the rows issued in its place. */
export interface Replacement {
  consumed: Consumed;
  now: number;
  rows: readonly OAuthTokensTable[];
}

interface Queued extends Replacement {
  resolve: (replaced: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Each kind's statements over the batch's items (`item`: old_hash, now): the rows it locks, in key order and
 * skipping any another transaction holds (FOR NO KEY UPDATE, the lock its UPDATE takes: a foreign key's KEY SHARE
 * does not stop it), and the conditional UPDATE of those still usable. A row reaches the UPDATE only through
 * `locked`, which yields only rows it locked.
 */
const CONSUMING = {
  code: {
    lock: sql`select c.code_hash as old_hash from oauth_codes c where c.code_hash in (select old_hash from item) order by 1 for no key update of c skip locked`,
    consume: sql`update oauth_codes c set consumed_at = item.now from item join locked using (old_hash)
      where c.code_hash = item.old_hash and c.consumed_at is null returning c.code_hash as old_hash`,
  },
  refresh: {
    lock: sql`select t.token_hash as old_hash from oauth_tokens t where t.token_hash in (select old_hash from item) order by 1 for no key update of t skip locked`,
    consume: sql`update oauth_tokens t set consumed_at = item.now from item join locked using (old_hash)
      where t.token_hash = item.old_hash and t.consumed_at is null and t.revoked_at is null returning t.token_hash as old_hash`,
  },
};

/**
 * PostgreSQL: the redemptions (or rotations) of one event-loop turn in one
 * statement, which is a transaction by itself: every item's conditional
 * UPDATE, and the INSERT of the rows of the items whose UPDATE changed a row.
 * Of racing uses of one code exactly one changes its row (PostgreSQL
 * re-checks the condition after the row lock), as with a statement each.
 *
 * - Two items using the same code never share a statement (an UPDATE … FROM
 *   changes the row once, yet would insert both items' rows): the second
 *   waits for the next.
 * - The statement never waits for the lock of a code or token while it
 *   holds others (that could deadlock it with a revocation, and the
 *   revocation could be the one rolled back): it locks them with SKIP LOCKED,
 *   and an item whose row another transaction holds (or that lost) is
 *   written by a statement of its own, which waits as any single statement
 *   would. Its INSERT's foreign-key checks may still wait for a user or
 *   client being deleted, as a single statement's do, and hold up the batch
 *   meanwhile.
 * - It is an INSERT (`… insert into oauth_tokens … returning`), as its
 *   trace span says.
 * - A statement the server refused wrote nothing: its items are written one by
 *   one, so a failure is only its own item's.
 */
export class ReplaceBatches {
  private readonly batches: TurnBatches<Queued>;
  private readonly statement;

  constructor(
    private readonly db: Kysely<Database>,
    kind: Consumed['kind'],
    private readonly alone: (db: Kysely<Database>, item: Replacement) => Promise<boolean>,
  ) {
    const { lock, consume } = CONSUMING[kind];
    const columns = sql.join(TOKEN_COLUMNS.map((c) => sql.ref(c)));
    // Arrays, one per column, each a parameter: the statement's parameters do not depend on the batch's size.
    const arrays = sql.join([sql`${[]}::text[]`, ...TOKEN_COLUMNS.map((c) => sql`${[]}::${sql.raw(TOKEN_COLUMN_TYPES[c])}[]`)]);
    const query = sql<{ token_hash: string }>`with item as (select * from unnest(${[]}::text[], ${[]}::bigint[]) as i (old_hash, now)),
      locked as materialized (${lock}),
      consumed as (${consume}),
      issued as (select * from unnest(${arrays}) as r (old_hash, ${columns}))
      insert into oauth_tokens (${columns}) select ${sql.join(TOKEN_COLUMNS.map((c) => sql.ref(`issued.${c}`)))} from issued join consumed using (old_hash)
      returning token_hash`;
    this.statement = preparedRaw<Database, { token_hash: string }>(query);
    this.batches = new TurnBatches((items) => {
      this.write(items).catch((error: unknown) => items.forEach((item) => item.reject(error)));
    });
  }

  replace(consumed: Consumed, now: number, rows: readonly OAuthTokensTable[]): Promise<boolean> {
    // One literal per item, not a spread of another: every queued item has one hidden class (bench/NOTES.md).
    return new Promise<boolean>((resolve, reject) => this.batches.push({ consumed, now, rows, resolve, reject }));
  }

  private async write(items: Queued[]): Promise<void> {
    const batch: Queued[] = [];
    const hashes = new Set<string>();
    // In the order of their keys: batches running side by side lock their rows in one order, not into a deadlock.
    items.sort((a, b) => (a.consumed.hash < b.consumed.hash ? -1 : a.consumed.hash > b.consumed.hash ? 1 : 0));
    for (const item of items) {
      if (hashes.has(item.consumed.hash)) this.batches.push(item);
      else {
        hashes.add(item.consumed.hash);
        batch.push(item);
      }
    }
    let issued: Set<string>;
    try {
      issued = await this.run(batch);
    } catch (error) {
      // An error the server reported for the statement (a constraint, such as a user deleted meanwhile) means it rolled
      // back and wrote nothing: each item is tried again by itself. Any other failure (a connection lost) may have come
      // after the commit: each item fails, as its own statement would have.
      if (!refusedByServer(error)) for (const item of batch) item.reject(error);
      else for (const item of batch) this.alone(this.db, item).then(item.resolve, item.reject);
      return;
    }
    for (const item of batch) {
      if (issued.has(item.rows[0]!.token_hash)) item.resolve(true);
      // Used or revoked already (a race lost, which is rare: a used code is refused before its write), or held by another
      // transaction: a statement of its own says which, waiting for the lock as any single statement would.
      else this.alone(this.db, item).then(item.resolve, item.reject);
    }
  }

  /** The access and refresh tokens the statement inserted, by hash. */
  private async run(batch: Queued[]): Promise<Set<string>> {
    const issued = batch.flatMap((item) => item.rows.map((row) => ({ old: item.consumed.hash, row })));
    const parameters = [batch.map((item) => item.consumed.hash), batch.map((item) => item.now), issued.map((i) => i.old), ...TOKEN_COLUMNS.map((c) => issued.map((i) => i.row[c]))];
    return new Set((await this.statement(this.db, ...parameters)).rows.map((row) => row.token_hash));
  }
}

/**
 * An error the server reported for the statement (node-postgres's DatabaseError: a SQLSTATE and a severity), after
 * which the statement has rolled back: not one that ends the session or reports the server's own failure (classes 08,
 * 57P, 58, XX), after which the commit is in doubt. A statement_timeout (57014) rolled back.
 */
function refusedByServer(error: unknown): boolean {
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  return typeof severity === 'string' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|57P|58|XX)/.test(code);
}
