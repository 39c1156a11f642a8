import { sql, type Kysely } from 'kysely';
import { TurnBatches } from '../../storage/batched-reads.js';
import { preparedIn } from '../../storage/prepared.js';
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

/** The consuming UPDATE of each kind, over the batch's items (`item`: old_hash, now). */
const CONSUMING = {
  code: sql`update oauth_codes c set consumed_at = item.now from item where c.code_hash = item.old_hash and c.consumed_at is null returning c.code_hash as old_hash`,
  refresh: sql`update oauth_tokens t set consumed_at = item.now from item where t.token_hash = item.old_hash and t.consumed_at is null and t.revoked_at is null returning t.token_hash as old_hash`,
};

/**
 * PostgreSQL: the redemptions (or rotations) of one event-loop turn in one
 * statement, which is a transaction by itself: every item's conditional
 * UPDATE, and the INSERT of the rows of the items whose UPDATE changed a row.
 * Of racing uses of one code exactly one changes its row (PostgreSQL
 * re-checks the condition after the row lock), as with a statement each.
 * Two items using the same code never share a statement (an UPDATE … FROM
 * changes the row once, yet would insert both items' rows): the second
 * waits for the next. A statement that fails wrote nothing; its items are
 * then written one by one, so a failure is only its own item's.
 */
export class ReplaceBatches {
  private readonly batches: TurnBatches<Queued>;
  private readonly statement;

  constructor(
    private readonly db: Kysely<Database>,
    kind: Consumed['kind'],
    private readonly alone: (db: Kysely<Database>, item: Replacement) => Promise<boolean>,
  ) {
    const columns = sql.join(TOKEN_COLUMNS.map((c) => sql.ref(c)));
    // Arrays, one per column, each a parameter: the statement's parameters do not depend on the batch's size.
    const arrays = sql.join([sql`${[]}::text[]`, ...TOKEN_COLUMNS.map((c) => sql`${[]}::${sql.raw(TOKEN_COLUMN_TYPES[c])}[]`)]);
    const query = sql`with item as (select * from unnest(${[]}::text[], ${[]}::bigint[]) as i (old_hash, now)),
      consumed as (${CONSUMING[kind]}),
      issued as (select * from unnest(${arrays}) as r (old_hash, ${columns}))
      insert into oauth_tokens (${columns}) select ${sql.join(TOKEN_COLUMNS.map((c) => sql.ref(`issued.${c}`)))} from issued join consumed using (old_hash)
      returning token_hash`;
    this.statement = preparedIn((d: Kysely<Database>) => ({ compile: () => query.compile({ getExecutor: () => d.getExecutor() }) }));
    this.batches = new TurnBatches((items) => void this.write(items));
  }

  replace(item: Replacement): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => this.batches.push({ ...item, resolve, reject }));
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
    let inserted: Set<string>;
    try {
      inserted = await this.run(batch);
    } catch (error) {
      // An error the server reported for the statement (a constraint, such as a user deleted meanwhile; a deadlock
      // with a revocation) means it rolled back and wrote nothing: each item is tried again by itself. Any other failure
      // (a connection lost) may have come after the commit: each item fails, as its own statement would have.
      if (!refusedByServer(error)) for (const item of batch) item.reject(error);
      else for (const item of batch) this.alone(this.db, item).then(item.resolve, item.reject);
      return;
    }
    for (const item of batch) item.resolve(inserted.has(item.rows[0]!.token_hash));
  }

  private async run(batch: Queued[]): Promise<Set<string>> {
    const issued = batch.flatMap((item) => item.rows.map((row) => ({ old: item.consumed.hash, row })));
    const parameters = [batch.map((item) => item.consumed.hash), batch.map((item) => item.now), issued.map((i) => i.old), ...TOKEN_COLUMNS.map((c) => issued.map((i) => i.row[c]))];
    const result = await this.statement(this.db, ...parameters);
    return new Set((result.rows as Array<{ token_hash: string }>).map((r) => r.token_hash));
  }
}

/**
 * A statement's error the server reported (a SQLSTATE): the statement rolled back. Not the classes that end or
 * cancel the session, or report the server's own failure (08, 57, 58, XX), after which the commit is in doubt.
 */
function refusedByServer(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|57|58|XX)/.test(code);
}
