import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from './schema.js';

/** Tables listed per owner, newest last: each row has id, user_id and created_at. */
type OwnedTable = 'oauth_clients' | 'characters';

export interface PageRequest {
  /** 1–100. */
  limit: number;
  /** The id of the last row of the previous page. */
  after?: string;
}

export interface Page<T> {
  rows: T[];
  hasMore: boolean;
}

const PAGE_LIMIT = { default: 100, max: 100 } as const;

/**
 * Keyset pagination over one owner's rows, ordered by (created_at, id): a
 * page after `after` starts right behind that row whatever was added or
 * deleted since. Null when `after` is not one of the owner's rows.
 */
export async function pageOwned<T extends OwnedTable>(db: Kysely<Database>, table: T, userId: string, page: PageRequest, only: readonly string[] | null = null): Promise<Page<Selectable<Database[T]>> | null> {
  // The two tables share the columns used here; Kysely cannot see that through the union, hence the one narrowing.
  const d = db as unknown as Kysely<Record<OwnedTable, { id: string; user_id: string; created_at: number }>>;
  let query = d.selectFrom(table as 'characters').selectAll().where('user_id', '=', userId);
  // `only`: the ids the caller may see (an OAuth token's characters, SPEC §15); an `after` outside them is unknown too.
  if (only !== null) query = only.length === 0 ? query.where(sql<boolean>`1 = 0`) : query.where('id', 'in', [...only]);
  if (page.after !== undefined) {
    const cursor = await d.selectFrom(table as 'characters').select(['id', 'created_at']).where('id', '=', page.after).where('user_id', '=', userId).executeTakeFirst();
    if (!cursor || (only !== null && !only.includes(cursor.id))) return null;
    query = query.where((eb) => eb.or([eb('created_at', '>', cursor.created_at), eb.and([eb('created_at', '=', cursor.created_at), eb('id', '>', cursor.id)])]));
  }
  const rows = await query.orderBy('created_at', 'asc').orderBy('id', 'asc').limit(page.limit + 1).execute();
  return { rows: rows.slice(0, page.limit) as Selectable<Database[T]>[], hasMore: rows.length > page.limit };
}

/** OpenAI's list shape: `{object, data, has_more, first_id, last_id}`. */
export function listEnvelope<T extends { id?: string; clientId?: string }>(data: T[], hasMore: boolean, idOf: (item: T) => string) {
  return {
    object: 'list' as const,
    data,
    has_more: hasMore,
    first_id: data.length ? idOf(data[0]!) : null,
    last_id: data.length ? idOf(data[data.length - 1]!) : null,
  };
}

/** The JSON schema of `?limit&after` (SPEC §3), for the list routes. */
export const pageQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // A query string is text, and validation never coerces (app.ts): the pattern is 1–100.
    limit: { type: 'string', pattern: '^(100|[1-9][0-9]?)$', description: '1–100 items (default 100).' },
    after: { type: 'string', maxLength: 200, description: 'The id of the last item of the previous page (its last_id).' },
  },
} as const;

/** The query string of a list route, as validated by pageQuerySchema. */
export interface PageQuery {
  limit?: string;
  after?: string;
}

export function pageRequest(query: PageQuery): PageRequest {
  return { limit: query.limit === undefined ? PAGE_LIMIT.default : Number(query.limit), after: query.after };
}

/** Response schema members added to a list. */
export const pageResponseProperties = {
  has_more: { type: 'boolean' },
  first_id: { type: ['string', 'null'] },
  last_id: { type: ['string', 'null'] },
} as const;
