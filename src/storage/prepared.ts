import type { CompiledQuery, DialectAdapter, Kysely, QueryResult, RawBuilder } from 'kysely';

/** A SQLite database's one connection, run on synchronously. */
export interface DirectRunner {
  run(sql: string, parameters: readonly unknown[]): QueryResult<unknown>;
  /** True while the connection is inside a transaction (SQLite's own flag). */
  inTransaction(): boolean;
}

/** SQLite databases by their Kysely adapter, which every transaction of a database shares with it. */
const directRunners = new WeakMap<DialectAdapter, DirectRunner>();

/** Registers a SQLite database's direct runner (database.ts). */
export function registerDirect(db: { getExecutor(): { readonly adapter: DialectAdapter } }, runner: DirectRunner): void {
  directRunners.set(db.getExecutor().adapter, runner);
}

/**
 * A prepared statement runs on SQLite's one connection at once, without
 * Kysely's chain of promises per statement (bench/NOTES.md), wherever
 * nothing else can be between: inside a transaction (it holds
 * the connection until it ends: the driver's mutex), and outside one while the
 * connection is in none. A transaction that holds the mutex but has not begun
 * (or has committed) is no obstacle: the statement is then simply before (or
 * after) it, as it would be had it queued first. Inside someone else's open
 * transaction it must queue behind it, through Kysely.
 */
function run<DB, Row>(executor: Kysely<DB>, query: CompiledQuery<Row>, parameters: readonly unknown[]): QueryResult<Row> | Promise<QueryResult<Row>> {
  const direct = directRunners.get(executor.getExecutor().adapter);
  // Called from async functions: a statement that throws rejects their promise, as through Kysely.
  if (direct && (executor.isTransaction || !direct.inTransaction())) return direct.run(query.sql, parameters) as QueryResult<Row>;
  return executor.executeQuery<Row>({ ...query, parameters });
}

type Build<DB, Row> = (db: Kysely<DB>) => { compile(): CompiledQuery<Row> };

/**
 * A hot query built and compiled once, then run with new parameters on any
 * executor of the same database (the database itself or a transaction): the
 * query builder and compiler cost more than the statement itself on the
 * busiest paths (bench/NOTES.md). `build` receives
 * placeholder values and must use each exactly once, in order.
 */
export function preparedIn<DB, Row>(build: Build<DB, Row>): (executor: Kysely<DB>, ...parameters: unknown[]) => Promise<QueryResult<Row>> {
  let compiled: CompiledQuery<Row> | undefined;
  return async (executor, ...parameters) => {
    compiled ??= build(executor).compile();
    if (compiled.parameters.length !== parameters.length) throw new Error('prepared query called with the wrong number of parameters');
    return run(executor, compiled, parameters);
  };
}

/** A prepared raw SQL query (`sql` tag), compiled for the dialect of the first executor it runs on. */
export function preparedRaw<DB, Row>(query: RawBuilder<Row>): (executor: Kysely<DB>, ...parameters: unknown[]) => Promise<QueryResult<Row>> {
  return preparedIn((db: Kysely<DB>) => ({ compile: () => query.compile(db) }));
}

/** A prepared query always run on one database (outside any transaction). */
export function prepared<DB, Row>(db: Kysely<DB>, build: Build<DB, Row>): (...parameters: unknown[]) => Promise<QueryResult<Row>> {
  const run = preparedIn(build);
  return (...parameters) => run(db, ...parameters);
}

/**
 * A prepared query whose parameters are named: `build` receives a marker for
 * each name and may use it anywhere, any number of times (or a literal where
 * the value never changes); each run fills every marker's places with its
 * value, in whatever order the compiled SQL has them. A parameter that is no
 * marker is kept as compiled. Compiled once per query, on the first executor
 * it runs on — so one instance per database.
 */
export function preparedNamed<DB, Row, Name extends string>(
  names: readonly Name[],
  build: (db: Kysely<DB>, p: Record<Name, never>) => { compile(): CompiledQuery<Row> },
): (executor: Kysely<DB>, values: Record<Name, unknown>) => Promise<QueryResult<Row>> {
  const marker = (name: string) => `\u0000prepared:${name}`;
  const markers = Object.fromEntries(names.map((n) => [n, marker(n)])) as unknown as Record<Name, never>;
  let compiled: { query: CompiledQuery<Row>; slots: Array<Name | null> } | undefined;
  return async (executor, values) => {
    if (!compiled) {
      const query = build(executor, markers).compile();
      const slots = query.parameters.map((p) => names.find((n) => p === marker(n)) ?? null);
      for (const name of names) if (!slots.includes(name)) throw new Error(`prepared query does not use its parameter ${name}`);
      compiled = { query, slots };
    }
    const { query, slots } = compiled;
    return run(executor, query, slots.map((slot, i) => (slot === null ? query.parameters[i] : values[slot])));
  };
}
