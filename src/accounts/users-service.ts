import type { RequestOrigin } from '../http/request-context.js';
import { AppError } from '../errors.js';
import { normalizeEmail } from './email-addresses.js';
import type { EmailVerification } from './email-verification.js';
import { isUniqueViolation } from './unique-violation.js';
import { randomId } from '../security/secrets.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { usernameKey, usernameProblem } from './usernames.js';
import { UsersRepo, type UserRow } from './users-repo.js';
import type { Kysely } from 'kysely';
import type { InvalidationFeed } from '../storage/invalidations.js';
import type { Database, Role } from '../storage/schema.js';
import type { EventOutbox } from '../events/outbox.js';
import type { AuditService } from '../audit/service.js';

export interface User {
  id: string;
  username: string;
  email: string | null;
  /** The address lower-cased once its verification link was followed, else null (SPEC §11). */
  verifiedEmail: string | null;
  avatar: string | null;
  createdAt: number;
  /** SPEC §12: `user` or `admin`. */
  role: Role;
  /** When an admin suspended them (SPEC §12), else null. */
  suspendedAt: number | null;
}

/** A user's profile claims: what userinfo and an ID token say of them beside the id. */
export type UserProfile = Pick<User, 'username' | 'avatar' | 'email' | 'verifiedEmail'>;

export interface NewUser {
  username: string;
  password: string;
  email?: string | null;
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    verifiedEmail: row.verified_email_lower,
    avatar: row.avatar,
    createdAt: Number(row.created_at),
    role: row.role,
    suspendedAt: row.suspended_at === null ? null : Number(row.suspended_at),
  };
}

export class UsersService {
  private readonly repo: UsersRepo;

  /** verification: mails a new account's address its link, in the transaction that creates the account (SPEC §11). */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly audit: AuditService | null = null,
    feed: InvalidationFeed | null = null,
    private readonly verification: EmailVerification | null = null,
    /** SPEC §13: user.deleted to every app the user had allowed, in the deletion's transaction. */
    private readonly events: EventOutbox | null = null,
    /** Ends the user's sessions in the deletion's transaction (SessionsService.endAllForUser: the one way they end). */
    private readonly endSessions: ((userId: string, trx: Kysely<Database>) => Promise<unknown>) | null = null,
  ) {
    this.repo = new UsersRepo(db, feed);
  }

  async create(input: NewUser): Promise<User> {
    const usernameIssue = usernameProblem(input.username);
    if (usernameIssue) throw new AppError('invalid_value', usernameIssue, 'username');
    const passwordIssue = passwordProblem(input.password);
    if (passwordIssue) throw new AppError('invalid_value', passwordIssue, 'password');
    const email = normalizeEmail(input.email);
    if (await this.repo.findByUsername(input.username)) throw usernameTaken();

    const now = this.now();
    const row: UserRow = {
      id: randomId('user_'),
      username: input.username,
      username_lower: usernameKey(input.username),
      email,
      verified_email_lower: null,
      password_hash: await hashPassword(input.password),
      avatar: null,
      created_at: now,
      updated_at: now,
      role: 'user',
      suspended_at: null,
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        await this.repo.insert(row, trx);
        if (email !== null) await this.verification?.sendLink(trx, row, email);
      });
    } catch (error) {
      // Two sign-ups racing for one name: the unique index decides.
      if (isUniqueViolation(error)) throw usernameTaken();
      throw error;
    }
    if (email !== null) this.verification?.committed();
    return toUser(row);
  }

  /**
   * The user when the password matches, else null. An unknown username is
   * checked against a dummy hash, so both failures cost the same time (UI-05).
   */
  async verifyCredentials(username: string, password: string): Promise<User | null> {
    const row = username.length <= 64 ? await this.repo.findByUsername(username) : undefined;
    const ok = await verifyPassword(row?.password_hash ?? (await dummyHash()), password.slice(0, 1024));
    return row && ok ? toUser(row) : null;
  }

  /** Whether the password is the user's (re-authentication before a change that could take the account over). */
  async passwordMatches(userId: string, password: string): Promise<boolean> {
    const row = await this.repo.findById(userId);
    return row !== undefined && (await verifyPassword(row.password_hash, password.slice(0, 1024)));
  }

  /** Changes the password after checking the current one; the caller ends the other sessions. */
  async changePassword(userId: string, current: string, next: string, origin?: RequestOrigin): Promise<void> {
    const row = await this.repo.findById(userId);
    if (!row || !(await verifyPassword(row.password_hash, current))) {
      throw new AppError('invalid_value', 'The current password is not correct.', 'current_password');
    }
    const problem = passwordProblem(next);
    if (problem) throw new AppError('invalid_value', problem, 'new_password');
    await this.repo.updatePassword(userId, await hashPassword(next), this.now());
    await this.audit?.record({ type: 'password.changed', userId }, origin);
  }

  /**
   * Deletes the account; its keys, clients, grants, tokens, sessions, characters and usage go with it (foreign keys
   * cascade). actorId: the admin who deleted it (SPEC §12), when it was not the user.
   */
  async delete(userId: string, origin?: RequestOrigin, actorId: string | null = null): Promise<void> {
    const row = await this.repo.findById(userId);
    await this.repo.delete(userId, async (trx) => {
      // Its sessions end through the one session-ending path first, so the apps hear of it (SPEC §13 logout).
      await this.endSessions?.(userId, trx);
      if (!this.events) return;
      const grants = await trx.selectFrom('oauth_grants').select('client_id').where('user_id', '=', userId).execute();
      await this.events.webhookEach(trx, 'user.deleted', userId, grants.map((g) => g.client_id));
    });
    if (row) await this.audit?.record({ type: 'account.deleted', userId, actorId, detail: { username: row.username } }, origin);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.repo.findByUsername(username);
    return row && toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.repo.findById(id);
    return row && toUser(row);
  }

  /** Like findByUsername, but a missing user is an error naming the username. */
  async require(username: string): Promise<User> {
    const user = await this.findByUsername(username);
    if (!user) throw new AppError('not_found', `No user named ${JSON.stringify(username)}.`, 'username');
    return user;
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  return (dummy ??= hashPassword('no user has this password, it only spends time'));
}

function usernameTaken(): AppError {
  return new AppError('username_taken', 'That username is already taken.', 'username');
}
