import { SqliteAdapter, sql, type Kysely } from 'kysely';

/**
 * An index built without blocking writes to its table, for a migration marked
 * `outsideTransaction` (PostgreSQL refuses CREATE INDEX CONCURRENTLY inside a
 * transaction block). A plain CREATE INDEX holds a SHARE lock for the whole
 * build: on a large oauth_tokens that is every token issued, refreshed or
 * revoked waiting, and every request queued behind them.
 *
 * Safe to run again: a concurrent build that failed (or a crash before the
 * migration was recorded) leaves an INVALID index under the name, which is
 * dropped and built again; a valid one is kept.
 *
 * SQLite has no concurrent build and one writer at a time anyway: a plain
 * CREATE INDEX IF NOT EXISTS.
 */
export async function createIndexConcurrently(db: Kysely<unknown>, index: string, table: string, columns: readonly string[]): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await db.schema.createIndex(index).ifNotExists().on(table).columns([...columns]).execute();
    return;
  }
  if (db.isTransaction) throw new Error(`createIndexConcurrently(${index}) needs a migration marked outsideTransaction`);
  const existing = await sql<{ valid: boolean }>`
    select i.indisvalid as valid from pg_index i
    join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
    where c.relname = ${index} and n.nspname = current_schema()`.execute(db);
  if (existing.rows[0]?.valid) return;
  if (existing.rows[0]) await sql`drop index concurrently ${sql.id(index)}`.execute(db);
  await sql`create index concurrently ${sql.id(index)} on ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))})`.execute(db);
}
