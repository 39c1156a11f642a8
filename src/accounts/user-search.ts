import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../storage/database.js';
import type { PageRequest } from '../storage/paging.js';
import { inByteOrder, upperBound } from '../storage/prefix-search.js';
import type { Database, Role } from '../storage/schema.js';

/** A user as the admin console lists them (SPEC §12). */
export interface UserListItem {
  id: string;
  username: string;
  email: string | null;
  role: Role;
  suspended: boolean;
  createdAt: number;
}

/** A search's longest query: no username or address is longer. */
const MAX_QUERY = 320;

/**
 * The admin console's user list (SPEC §12), a page at a time and never the whole table: by username, or with `q` the
 * users whose username starts with it, or — when `q` holds an `@` — whose e-mail address does, case-insensitively.
 * Each is one range scan of an index in the order it is listed (username_lower; lower(email), id), and `after` (a
 * user id, as SPEC §3's lists page) continues behind that user's place in it (keyset paging: a page costs the
 * same at the millionth user as at the first, unlike an offset). Null when `after` is no user.
 */
export async function searchUsers(db: Kysely<Database>, dialect: Dialect, q: string | undefined, page: PageRequest): Promise<{ rows: UserListItem[]; hasMore: boolean } | null> {
  const query = (q ?? '').trim().toLowerCase().slice(0, MAX_QUERY);
  const byEmail = query.includes('@');
  const key = byEmail ? inByteOrder(dialect, sql<string>`lower(email)`) : inByteOrder(dialect, sql<string>`username_lower`);
  let select = db.selectFrom('users').select(['id', 'username', 'email', 'role', 'suspended_at', 'created_at']);
  if (query !== '') select = select.where(key, '>=', query).where(key, '<', upperBound(query));
  if (page.after !== undefined) {
    // The cursor's keys as the database computes them (SQLite's lower() folds ASCII only).
    const cursor = await db.selectFrom('users').select(['id', 'username_lower', sql<string>`coalesce(lower(email), '')`.as('email_key')]).where('id', '=', page.after).executeTakeFirst();
    if (!cursor) return null;
    if (byEmail) {
      const at = cursor.email_key;
      // (key, id) > (at, cursor id): the range starts at `at`, ties on the address go by id.
      select = select.where(key, '>=', at).where((eb) => eb.or([eb(key, '>', at), eb('id', '>', cursor.id)]));
    } else {
      select = select.where(key, '>', cursor.username_lower);
    }
  }
  select = byEmail ? select.where('email', 'is not', null).orderBy(key).orderBy('id') : select.orderBy(key);
  const rows = await select.limit(page.limit + 1).execute();
  return {
    rows: rows.slice(0, page.limit).map((r) => ({ id: r.id, username: r.username, email: r.email, role: r.role, suspended: r.suspended_at !== null, createdAt: Number(r.created_at) })),
    hasMore: rows.length > page.limit,
  };
}
