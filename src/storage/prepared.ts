import type { CompiledQuery, Kysely, QueryResult } from 'kysely';

type Build<DB, Row> = (db: Kysely<DB>) => { compile(): CompiledQuery<Row> };

/**
 * A hot query built and compiled once, then run with new parameters on any
 * executor of the same database (the database itself or a transaction): the
 * query builder and compiler cost more than the statement itself on the
 * busiest paths (a third of userinfo's CPU in the profile). `build` receives
 * placeholder values and must use each exactly once, in order.
 */
export function preparedIn<DB, Row>(build: Build<DB, Row>): (executor: Kysely<DB>, ...parameters: unknown[]) => Promise<QueryResult<Row>> {
  let compiled: CompiledQuery<Row> | undefined;
  return (executor, ...parameters) => {
    compiled ??= build(executor).compile();
    if (compiled.parameters.length !== parameters.length) throw new Error('prepared query called with the wrong number of parameters');
    return executor.executeQuery<Row>({ ...compiled, parameters });
  };
}

/** A prepared query always run on one database (outside any transaction). */
export function prepared<DB, Row>(db: Kysely<DB>, build: Build<DB, Row>): (...parameters: unknown[]) => Promise<QueryResult<Row>> {
  const run = preparedIn(build);
  return (...parameters) => run(db, ...parameters);
}
