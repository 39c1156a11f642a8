import { describe, expect, it } from 'vitest';
import { statementSummary } from '../../src/tracing/database-spans.js';

describe('statementSummary: a span name from SQL text', () => {
  it.each([
    ['select "id", "kind" from "cache_invalidations" where "id" > ? order by "id" limit ?', 'SELECT', 'cache_invalidations'],
    ['insert into "oauth_tokens" ("token_hash") values ($1) returning "id"', 'INSERT', 'oauth_tokens'],
    ['update "oauth_codes" set "used_at" = ? where "code_hash" = ?', 'UPDATE', 'oauth_codes'],
    ['delete from "sessions" where "expires_at" < ?', 'DELETE', 'sessions'],
    ['select * from "public"."users" where "id" = $1', 'SELECT', 'public.users'],
    ['with consumed as (update "oauth_codes" set "used_at" = $1 where "code_hash" = $2 returning 1) insert into oauth_tokens (a, b) select v.* from (values ($3, $4)) as v (a, b) cross join consumed', 'INSERT', 'oauth_tokens'],
  ])('%s', (text, operation, table) => {
    expect(statementSummary(text)).toEqual({ operation, table });
  });

  it('names statements that touch no table by their keyword', () => {
    expect(statementSummary('begin')).toEqual({ operation: 'BEGIN', table: null });
    expect(statementSummary('select 1')).toEqual({ operation: 'SELECT', table: null });
    expect(statementSummary('select pg_notify($1, \'\')')).toEqual({ operation: 'SELECT', table: null });
  });
});
