import { SqliteAdapter, sql, type Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/**
 * A column with a default, and triggers: an older version inserts clients without the column (it gets 0) and its
 * grant writes keep the count too, as the triggers are the database's, not the code's.
 */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * oauth_clients.grant_count: how many users allowed the app (SPEC §12: the consent and device pages and the admin
 * console show it), read from the client's row instead of counting its grants on every render — an app with a
 * million users read a million index entries per page.
 *
 * Kept by triggers on oauth_grants, not by the code: a grant also goes with its user or its client (foreign keys
 * cascade, which no code path sees), and triggers count every path, an older version's writes included, in the
 * transaction of the write. A re-consent is an upsert whose conflict path is an UPDATE, so it counts once.
 * PostgreSQL counts per statement over its transition tables (one UPDATE per app a statement touched): per row,
 * a bulk insert of N grants for one app would stack N versions of that app's row in one transaction.
 *
 * The triggers are created before the backfill, in the same transaction: CREATE TRIGGER holds a lock on
 * oauth_grants that keeps out every grant write until the transaction commits, so none is counted twice or missed.
 * A later migration that rebuilds oauth_grants (SQLite's copy-and-rename) must create the triggers again, and one
 * that rebuilds oauth_clients must copy the column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_clients').addColumn('grant_count', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await sql`create trigger oauth_grants_count_insert after insert on oauth_grants
      begin update oauth_clients set grant_count = grant_count + 1 where id = new.client_id; end`.execute(db);
    await sql`create trigger oauth_grants_count_delete after delete on oauth_grants
      begin update oauth_clients set grant_count = grant_count - 1 where id = old.client_id; end`.execute(db);
    await sql`create trigger oauth_grants_count_move after update of client_id on oauth_grants when old.client_id <> new.client_id
      begin
        update oauth_clients set grant_count = grant_count - 1 where id = old.client_id;
        update oauth_clients set grant_count = grant_count + 1 where id = new.client_id;
      end`.execute(db);
  } else {
    await sql`create function oauth_grants_count_added() returns trigger language plpgsql as $$
      begin
        update oauth_clients c set grant_count = c.grant_count + n.added
          from (select client_id, count(*) as added from added_grants group by client_id) n where c.id = n.client_id;
        return null;
      end $$`.execute(db);
    await sql`create function oauth_grants_count_removed() returns trigger language plpgsql as $$
      begin
        update oauth_clients c set grant_count = c.grant_count - n.removed
          from (select client_id, count(*) as removed from removed_grants group by client_id) n where c.id = n.client_id;
        return null;
      end $$`.execute(db);
    // An UPDATE trigger with transition tables may not name columns: every update of a grant runs it, and it
    // writes nothing unless a grant moved to another app (never, in the code; an operator's hand, perhaps): each
    // app's rows after less its rows before.
    await sql`create function oauth_grants_count_moved() returns trigger language plpgsql as $$
      begin
        update oauth_clients c set grant_count = c.grant_count + n.delta
          from (select client_id, sum(delta) as delta from (
                  select client_id, 1 as delta from added_grants union all select client_id, -1 from removed_grants) moved
                group by client_id) n
          where c.id = n.client_id and n.delta <> 0;
        return null;
      end $$`.execute(db);
    await sql`create trigger oauth_grants_count_insert after insert on oauth_grants
      referencing new table as added_grants for each statement execute function oauth_grants_count_added()`.execute(db);
    await sql`create trigger oauth_grants_count_delete after delete on oauth_grants
      referencing old table as removed_grants for each statement execute function oauth_grants_count_removed()`.execute(db);
    await sql`create trigger oauth_grants_count_move after update on oauth_grants
      referencing old table as removed_grants new table as added_grants for each statement execute function oauth_grants_count_moved()`.execute(db);
  }
  // Only the apps someone allowed: the rest keep the default without a write.
  await sql`update oauth_clients set grant_count = (select count(*) from oauth_grants g where g.client_id = oauth_clients.id)
    where exists (select 1 from oauth_grants g where g.client_id = oauth_clients.id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    for (const trigger of ['oauth_grants_count_insert', 'oauth_grants_count_delete', 'oauth_grants_count_move']) await sql`drop trigger ${sql.id(trigger)}`.execute(db);
  } else {
    for (const trigger of ['oauth_grants_count_insert', 'oauth_grants_count_delete', 'oauth_grants_count_move']) await sql`drop trigger ${sql.id(trigger)} on oauth_grants`.execute(db);
    for (const fn of ['oauth_grants_count_added', 'oauth_grants_count_removed', 'oauth_grants_count_moved']) await sql`drop function ${sql.id(fn)}()`.execute(db);
  }
  await db.schema.alterTable('oauth_clients').dropColumn('grant_count').execute();
}
