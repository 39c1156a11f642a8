import type { Kysely } from 'kysely';
import type { AuditService } from '../audit/service.js';
import { AppError, notFound } from '../errors.js';
import type { RequestOrigin } from '../http/request-context.js';
import type { Dialect } from '../storage/database.js';
import type { PageRequest } from '../storage/paging.js';
import type { Database, Role } from '../storage/schema.js';
import type { PendingSignIns } from './pending-sign-ins.js';
import type { SessionsService } from './sessions.js';
import { searchUsers, type UserListItem } from './user-search.js';
import { toUser, type User } from './users-service.js';

const ROLES: readonly Role[] = ['user', 'admin'];

/** Ends every token the user holds, and what would become one, in the suspension's transaction (oauth's revocation). */
type EndUserTokens = (trx: Kysely<Database>, userId: string) => Promise<void>;

export interface UserAdminDeps {
  db: Kysely<Database>;
  dialect: Dialect;
  now: () => number;
  audit: AuditService;
  sessions: SessionsService;
  pendingSignIns: PendingSignIns;
  endTokens: EndUserTokens;
}

/**
 * What an admin does to users (SPEC §12), from the console, its API or the CLI. actorId: the admin, recorded as the
 * audit event's actor; null from the CLI (whoever runs it holds the database already).
 */
export class UserAdmin {
  constructor(private readonly deps: UserAdminDeps) {}

  async search(q: string | undefined, page: PageRequest): Promise<{ rows: UserListItem[]; hasMore: boolean } | null> {
    return searchUsers(this.deps.db, this.deps.dialect, q, page);
  }

  async get(userId: string): Promise<User> {
    const row = await this.deps.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!row) throw notFound('user');
    return toUser(row);
  }

  async setRole(userId: string, role: Role, actorId: string | null, origin?: RequestOrigin): Promise<void> {
    if (!ROLES.includes(role)) throw new AppError('invalid_value', 'A role is "user" or "admin".', 'role');
    const { db, audit, now } = this.deps;
    const before = await this.get(userId);
    if (before.role === role) return;
    await db.updateTable('users').set({ role, updated_at: now() }).where('id', '=', userId).execute();
    await audit.record({ type: 'account.role_changed', userId, actorId, detail: { from: before.role, to: role } }, origin);
  }

  /**
   * Suspends the user, in one transaction: they can no longer sign in (SessionsService.start refuses them), and
   * every session, half-session and token of theirs ends — on every instance, through the invalidation feed the
   * revocation writes to. Tokens that other users granted to apps the user owns are those users' and keep working.
   * False when the user was suspended already.
   */
  async suspend(userId: string, actorId: string | null, origin?: RequestOrigin): Promise<boolean> {
    if (actorId === userId) throw new AppError('invalid_value', 'You cannot suspend yourself.', 'id');
    const { db, audit, now, sessions, pendingSignIns, endTokens } = this.deps;
    await this.get(userId);
    return db.transaction().execute(async (trx) => {
      const updated = await trx.updateTable('users').set({ suspended_at: now() }).where('id', '=', userId).where('suspended_at', 'is', null).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      const ended = await sessions.endAllForUser(userId, trx);
      await pendingSignIns.endAllForUser(userId, trx);
      await endTokens(trx, userId);
      await audit.record({ type: 'account.suspended', userId, actorId, detail: { sessions: ended } }, origin, trx);
      return true;
    });
  }

  /** Lets the user sign in again (what suspension ended stays ended). False when they were not suspended. */
  async unsuspend(userId: string, actorId: string | null, origin?: RequestOrigin): Promise<boolean> {
    const { db, audit } = this.deps;
    await this.get(userId);
    const updated = await db.updateTable('users').set({ suspended_at: null }).where('id', '=', userId).where('suspended_at', 'is not', null).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return false;
    await audit.record({ type: 'account.unsuspended', userId, actorId }, origin);
    return true;
  }
}
