import type { SessionsService } from './sessions.js';
import type { Kysely } from 'kysely';
import type { AuditService } from '../audit/service.js';
import { AppError } from '../errors.js';
import type { RequestOrigin } from '../http/request-context.js';
import type { MailOutbox } from '../mail/outbox.js';
import { sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import type { AccountMail } from './account-mail.js';
import { emailKey } from './email-addresses.js';
import { passwordStamp, type EmailLinks } from './email-links.js';
import { passwordProblem } from './passwords.js';
import type { PendingSignIns } from './pending-sign-ins.js';
import { usernameKey } from './usernames.js';

export interface PasswordResetDeps {
  db: Kysely<Database>;
  links: EmailLinks;
  pendingSignIns: PendingSignIns;
  /** Ends every session of the user in the reset's transaction (SessionsService.endAllForUser: the one way they end, back-channel logout too). */
  sessions: Pick<SessionsService, 'endAllForUser'>;
  /** Argon2id (passwords.ts's hashPassword): a dependency so its calls can be counted. */
  hashPassword: (password: string) => Promise<string>;
  outbox: MailOutbox;
  mail: AccountMail;
  audit: AuditService;
  now: () => number;
  /** RATE_LIMIT_MAIL per account: false when this account has had its messages for the hour (then none is sent). */
  mayMail: (userId: string) => Promise<boolean>;
  /** A message was queued and committed: the mail worker sends it now. */
  queued: () => void;
}

export type ResetOutcome = { reset: true; userId: string } | { reset: false };

/**
 * Password reset by a mailed link (SPEC §11): requested by username or
 * verified address with no hint whether either exists, the link 30 minutes
 * long, single use, dead once the password changes; a reset ends every
 * session (grants stay) and mails a notice.
 */
export class PasswordReset {
  constructor(private readonly deps: PasswordResetDeps) {}

  /**
   * Mails a link when `identifier` (a username, or an address containing "@") names an account with a verified
   * address; otherwise does nothing visible. The caller answers the same either way, in the same time.
   */
  async request(identifier: string, origin?: RequestOrigin): Promise<void> {
    const { db, links, outbox, mail, audit } = this.deps;
    const value = identifier.trim().slice(0, 320);
    const byEmail = value.includes('@');
    const user = await db
      .selectFrom('users')
      .select(['id', 'username', 'email', 'verified_email_lower', 'password_hash'])
      .where(byEmail ? 'verified_email_lower' : 'username_lower', '=', byEmail ? emailKey(value) : usernameKey(value))
      .executeTakeFirst();
    const email = user?.email;
    if (!user || !email || user.verified_email_lower !== emailKey(email)) {
      // The stamp's hash is the one computation a real request does outside the database (the padding covers the rest).
      sha256Hex(identifier);
      return;
    }
    if (!(await this.deps.mayMail(user.id))) {
      // Not mailed, and the page says nothing of it (no enumeration); the owner sees it on the Activity page.
      await audit.record({ type: 'password.reset_refused', userId: user.id, detail: { by: byEmail ? 'email' : 'username', reason: 'mail_limit' } }, origin);
      return;
    }
    await db.transaction().execute(async (trx) => {
      const token = await links.create(trx, { purpose: 'reset', userId: user.id, email, passwordStamp: passwordStamp(user.password_hash) });
      await outbox.enqueue(trx, mail.reset(email, user.username, token));
      await audit.record({ type: 'password.reset_requested', userId: user.id, detail: { by: byEmail ? 'email' : 'username' } }, origin, trx);
    });
    this.deps.queued();
  }

  /** Whether the link would reset a password now (the page asks for the new one only then). */
  async isLive(token: string): Promise<boolean> {
    const link = await this.deps.links.find(token, 'reset');
    if (!link) return false;
    const user = await this.deps.db.selectFrom('users').select('password_hash').where('id', '=', link.user_id).executeTakeFirst();
    return user !== undefined && passwordStamp(user.password_hash) === link.password_stamp;
  }

  /**
   * Sets the new password with the link, once: the link is used, the user's other reset links die, every session
   * ends (half-sessions too), a notice is queued, all in one transaction. A password that breaks the rules is an
   * AppError (the link stays usable).
   */
  async reset(token: string, password: string, origin?: RequestOrigin): Promise<ResetOutcome> {
    const problem = passwordProblem(password);
    if (problem) throw new AppError('invalid_value', problem, 'password');
    const { db, links, pendingSignIns, outbox, mail, audit, now } = this.deps;
    // A dead or unknown link is refused before Argon2id runs: otherwise anyone could spend 19 MiB and two passes of
    // the hashing threads (which sign-in shares) per request with made-up tokens. The transaction checks again.
    if (!(await this.isLive(token))) return { reset: false };
    // Hashed before the transaction: Argon2id's time would otherwise hold SQLite's write lock.
    const hash = await this.deps.hashPassword(password);
    const outcome = await db.transaction().execute(async (trx): Promise<ResetOutcome> => {
      const link = await links.consume(trx, token, 'reset');
      if (!link) return { reset: false };
      const user = await trx.selectFrom('users').select(['username', 'password_hash']).where('id', '=', link.user_id).executeTakeFirst();
      // The password changed since the link was mailed: it is dead (and now used up too).
      if (!user || passwordStamp(user.password_hash) !== link.password_stamp) return { reset: false };
      await trx.updateTable('users').set({ password_hash: hash, updated_at: now() }).where('id', '=', link.user_id).execute();
      await links.deleteAll(trx, link.user_id, 'reset');
      await this.deps.sessions.endAllForUser(link.user_id, trx);
      // A half-session is the old password's too: left alive, its second step would still open a session.
      await pendingSignIns.endAllForUser(link.user_id, trx);
      // To whoever got the link, even if the account's address changed since.
      await outbox.enqueue(trx, mail.resetNotice(link.email, user.username));
      await audit.record({ type: 'password.reset', userId: link.user_id }, origin, trx);
      return { reset: true, userId: link.user_id };
    });
    if (outcome.reset) this.deps.queued();
    return outcome;
  }
}
