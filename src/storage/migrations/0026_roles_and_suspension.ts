import { SqliteAdapter, sql, type Kysely } from 'kysely';
import { COMPATIBLE, type OlderVersions } from './older-versions.js';

/**
 * Columns with a default or nullable, and indexes: older versions insert users and audit events without them and
 * never read them. An older version does not refuse a suspended user's sign-in; an upgrade is rolled forward.
 */
export const olderVersions: OlderVersions = COMPATIBLE;

/**
 * The operator's console (SPEC §12): a user's role (`user` or `admin`), when they were suspended (null: not), and
 * who did an audited action when it was not the user it concerns (an admin), and when a session's admin last
 * re-authenticated.
 *
 * The console's searches are prefixes of a lower-cased username, e-mail address or app name, answered by a range
 * over an index in byte order, so a search over a million users reads only the rows it shows. SQLite's default
 * collation is byte order already (username_lower's unique index serves); PostgreSQL's default collation is the
 * locale's, whose order is not a prefix's, so its indexes are built in the "C" collation the queries name.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('role', 'text', (c) => c.notNull().defaultTo('user')).execute();
  await db.schema.alterTable('users').addColumn('suspended_at', 'bigint').execute();
  await db.schema.alterTable('audit_events').addColumn('actor_id', 'text').execute();
  // When the session's user last proved it again for the admin pages (asked every 15 minutes).
  await db.schema.alterTable('sessions').addColumn('reauth_at', 'bigint').execute();
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await sql`create index users_email_lower on users (lower(email), id)`.execute(db);
    await sql`create index oauth_clients_name_lower on oauth_clients (lower(name), id)`.execute(db);
  } else {
    await sql`create index users_username_lower_c on users (username_lower collate "C")`.execute(db);
    await sql`create index users_email_lower on users ((lower(email)) collate "C", id)`.execute(db);
    await sql`create index oauth_clients_name_lower on oauth_clients ((lower(name)) collate "C", id)`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists oauth_clients_name_lower`.execute(db);
  await sql`drop index if exists users_email_lower`.execute(db);
  await sql`drop index if exists users_username_lower_c`.execute(db);
  await db.schema.alterTable('sessions').dropColumn('reauth_at').execute();
  await db.schema.alterTable('audit_events').dropColumn('actor_id').execute();
  await db.schema.alterTable('users').dropColumn('suspended_at').execute();
  await db.schema.alterTable('users').dropColumn('role').execute();
}
