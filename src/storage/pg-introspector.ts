import {
  DEFAULT_MIGRATION_LOCK_TABLE,
  DEFAULT_MIGRATION_TABLE,
  PostgresDialect,
  PostgresIntrospector,
  sql,
  type DatabaseIntrospector,
  type DatabaseMetadataOptions,
  type TableMetadata,
} from 'kysely';

/** The Kysely instance (or pinned connection) an introspector reads through. */
type IntrospectedDb = ConstructorParameters<typeof PostgresIntrospector>[0];

const KYSELY_TABLES = [DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE];

interface ColumnRow {
  table: string;
  schema: string;
  table_type: string;
  column: string;
  not_null: boolean;
  has_default: boolean;
  identity: string;
  default_expression: string | null;
  type: string;
  type_schema: string;
  column_description: string | null;
}

/**
 * Kysely's PostgreSQL introspector lists the columns of every schema and resolves each table by
 * name (`pg_get_serial_sequence`) as it goes, so a schema dropped by someone else during the
 * query fails it with "relation … does not exist" — the migrator asks it whether its bookkeeping
 * tables exist at every start. This one reads only the schema Serika works in (search_path's
 * first, where the migrations put everything) and finds serial and identity columns from the
 * catalog rows themselves, resolving no name. Its schema list (and the metadata built on getTables) is Kysely's.
 */
export class CurrentSchemaIntrospector extends PostgresIntrospector {
  constructor(private readonly db: IntrospectedDb) {
    super(db);
  }

  override async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const { rows } = await sql<ColumnRow>`
      select c.relname as "table", c.relkind as table_type, ns.nspname as "schema",
             a.attname as "column", a.attnotnull as not_null, a.atthasdef as has_default, a.attidentity as identity,
             pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default_expression,
             typ.typname as "type", tns.nspname as type_schema,
             pg_catalog.col_description(a.attrelid, a.attnum) as column_description
        from pg_catalog.pg_attribute a
        join pg_catalog.pg_class c on c.oid = a.attrelid
        join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
        join pg_catalog.pg_type typ on typ.oid = a.atttypid
        join pg_catalog.pg_namespace tns on tns.oid = typ.typnamespace
        left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
       where ns.nspname = current_schema()
         and c.relkind in ('r', 'v', 'p')
         and a.attnum > 0 and not a.attisdropped
       order by c.relname, a.attnum`.execute(this.db);
    const tables = new Map<string, { name: string; schema: string; isView: boolean; columns: TableMetadata['columns'][number][] }>();
    for (const row of rows) {
      if (!options.withInternalKyselyTables && KYSELY_TABLES.includes(row.table)) continue;
      let table = tables.get(row.table);
      if (!table) {
        table = { name: row.table, schema: row.schema, isView: row.table_type === 'v', columns: [] };
        tables.set(row.table, table);
      }
      table.columns.push({
        name: row.column,
        dataType: row.type,
        dataTypeSchema: row.type_schema,
        isAutoIncrementing: row.identity !== '' || (row.default_expression?.startsWith('nextval(') ?? false),
        isNullable: !row.not_null,
        hasDefaultValue: row.has_default,
        ...(row.column_description !== null ? { comment: row.column_description } : {}),
      });
    }
    return [...tables.values()];
  }
}

/** PostgreSQL as Kysely speaks it, introspecting only the current schema (see CurrentSchemaIntrospector). */
export class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: IntrospectedDb): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}
