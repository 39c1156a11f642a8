import type { CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A hot query built and compiled once, then run with new parameters: the
 * query builder and compiler cost more than the lookup itself on the
 * busiest paths (a third of userinfo's CPU in the profile). `build` receives
 * placeholder values and must use each exactly once, in order.
 */
export function prepared<DB, Row>(db: Kysely<DB>, build: (db: Kysely<DB>) => { compile(): CompiledQuery<Row> }): (...parameters: unknown[]) => Promise<QueryResult<Row>> {
  let compiled: CompiledQuery<Row> | undefined;
  return (...parameters) => {
    compiled ??= build(db).compile();
    if (compiled.parameters.length !== parameters.length) throw new Error('prepared query called with the wrong number of parameters');
    return db.executeQuery<Row>({ ...compiled, parameters });
  };
}
