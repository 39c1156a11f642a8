import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { toStored, type StoredAuditEvent } from './service.js';

/** What the admin console's Audit page filters by (SPEC §12); each is optional. */
export interface AuditFilter {
  userId?: string;
  clientId?: string;
  type?: string;
  /** Events at or after this time, ms. */
  from?: number;
  /** Events before this time, ms. */
  to?: number;
}

/**
 * Every event, newest first, a page at a time (SPEC §12). Keyset paging by (created_at, id) behind `before`, an
 * event id: the user filter runs on the (user_id, created_at) index, the others along created_at's. Null when
 * `before` is no event.
 */
export async function searchAudit(db: Kysely<Database>, filter: AuditFilter, page: { limit: number; before?: string }): Promise<{ rows: StoredAuditEvent[]; hasMore: boolean } | null> {
  let select = db.selectFrom('audit_events').selectAll();
  if (filter.userId !== undefined) select = select.where('user_id', '=', filter.userId);
  if (filter.clientId !== undefined) select = select.where('client_id', '=', filter.clientId);
  if (filter.type !== undefined) select = select.where('type', '=', filter.type);
  if (filter.from !== undefined) select = select.where('created_at', '>=', filter.from);
  if (filter.to !== undefined) select = select.where('created_at', '<', filter.to);
  if (page.before !== undefined) {
    const cursor = await db.selectFrom('audit_events').select(['id', 'created_at']).where('id', '=', page.before).executeTakeFirst();
    if (!cursor) return null;
    select = select
      .where('created_at', '<=', cursor.created_at)
      .where((eb) => eb.or([eb('created_at', '<', cursor.created_at), eb('id', '<', cursor.id)]));
  }
  const rows = await select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute();
  return { rows: rows.slice(0, page.limit).map(toStored), hasMore: rows.length > page.limit };
}
