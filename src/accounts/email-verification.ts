import type { Kysely } from 'kysely';
import type { AuditService } from '../audit/service.js';
import { AppError } from '../errors.js';
import type { RequestOrigin } from '../http/request-context.js';
import type { MailOutbox } from '../mail/outbox.js';
import type { InvalidationFeed } from '../storage/invalidations.js';
import type { Database } from '../storage/schema.js';
import type { AccountMail } from './account-mail.js';
import { emailKey, normalizeEmail } from './email-addresses.js';
import type { EmailLinks } from './email-links.js';
import { isUniqueViolation } from './unique-violation.js';

export interface EmailVerificationDeps {
  db: Kysely<Database>;
  links: EmailLinks;
  outbox: MailOutbox;
  mail: AccountMail;
  audit: AuditService | null;
  /** Tokens cache the user's email claims: a changed address or verification must reach every process. */
  feed: InvalidationFeed | null;
  /** A message was queued and committed: the mail worker sends it now rather than at its next poll. */
  queued: () => void;
  /**
   * RATE_LIMIT_MAIL per recipient: false once an address has had its messages for the hour. Sign-ups with
   * someone else's address come from many accounts, so only a count per address stops them mailing it without end.
   */
  mayMailTo: (email: string) => Promise<boolean>;
}

export type VerifyOutcome = { verified: true; email: string; username: string } | { verified: false; reason: 'invalid' | 'taken' };

/**
 * E-mail addresses and their verification (SPEC §11): each new address gets
 * a link (24 h, single use); `email_verified` is true only once the link of
 * the current address was followed; verified addresses are unique regardless
 * of case (a unique index decides, so two users verifying one address at
 * once cannot both win).
 */
export class EmailVerification {
  constructor(private readonly deps: EmailVerificationDeps) {}

  /**
   * Writes a verification link and its message in the caller's transaction (sign-up, `users create --email`, a
   * change); false when the address had its messages for the hour (then the account page offers to send it again).
   */
  async sendLink(trx: Kysely<Database>, user: { id: string; username: string }, email: string): Promise<boolean> {
    if (!(await this.deps.mayMailTo(emailKey(email)))) return false;
    const token = await this.deps.links.create(trx, { purpose: 'verify', userId: user.id, email });
    await this.deps.outbox.enqueue(trx, this.deps.mail.verification(email, user.username, token));
    return true;
  }

  /** After the transaction that called sendLink committed. */
  committed(): void {
    this.deps.queued();
  }

  /**
   * The account's address set (or, empty, removed): unverified until its link is followed; earlier links die.
   * Returns whether a link was sent (not for the same address again once verified, nor for none).
   */
  async change(user: { id: string; username: string }, raw: string, origin?: RequestOrigin): Promise<{ email: string | null; sent: boolean; limited: boolean }> {
    const email = normalizeEmail(raw);
    const { changed, sent, limited, notified, previous } = await this.deps.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('users').select(['email', 'verified_email_lower']).where('id', '=', user.id).executeTakeFirst();
      if (!row) throw new AppError('not_found', 'No such user.', 'email');
      // The verified address saved again: nothing changes, nothing is sent.
      if (email !== null && row.verified_email_lower !== null && email === row.email) return { changed: false, sent: false, limited: false, notified: false, previous: row.email };
      // The address verified until now hears of the change: it is how a password is recovered.
      const notify = row.verified_email_lower !== null && row.email !== null && email !== row.email;
      if (notify) await this.deps.outbox.enqueue(trx, this.deps.mail.emailChangedNotice(row.email!, user.username, email));
      await trx.updateTable('users').set({ email, verified_email_lower: null }).where('id', '=', user.id).execute();
      await this.deps.links.deleteAll(trx, user.id, 'verify');
      await this.deps.feed?.record(trx, [{ kind: 'user', key: user.id }]);
      const sent = email !== null && (await this.sendLink(trx, user, email));
      return { changed: email !== row.email, sent, limited: email !== null && !sent, notified: notify, previous: row.email };
    });
    if (changed) await this.deps.audit?.record({ type: 'email.changed', userId: user.id, detail: { email, previous } }, origin);
    if (sent || notified) this.committed();
    return { email, sent, limited };
  }

  /** The account and address a live link would verify, without using it (the confirmation page names them). */
  async pending(token: string): Promise<{ userId: string; email: string; username: string } | null> {
    const link = await this.deps.links.find(token, 'verify');
    if (!link) return null;
    const user = await this.deps.db.selectFrom('users').select('username').where('id', '=', link.user_id).executeTakeFirst();
    return user ? { userId: link.user_id, email: link.email, username: user.username } : null;
  }

  /**
   * Follows a verification link: once, within 24 hours, for the address the account still has. The page that
   * says so names the account it was verified for.
   */
  async verify(token: string, origin?: RequestOrigin): Promise<VerifyOutcome> {
    try {
      return await this.deps.db.transaction().execute(async (trx): Promise<VerifyOutcome> => {
        const link = await this.deps.links.consume(trx, token, 'verify');
        if (!link) return { verified: false, reason: 'invalid' };
        const updated = await trx
          .updateTable('users')
          .set({ verified_email_lower: emailKey(link.email) })
          .where('id', '=', link.user_id)
          .where('email', '=', link.email)
          .executeTakeFirst();
        // The account's address changed since the link was sent: it verifies nothing.
        if (Number(updated.numUpdatedRows) === 0) return { verified: false, reason: 'invalid' };
        await this.deps.feed?.record(trx, [{ kind: 'user', key: link.user_id }]);
        await this.deps.audit?.record({ type: 'email.verified', userId: link.user_id, detail: { email: link.email } }, origin, trx);
        const user = await trx.selectFrom('users').select('username').where('id', '=', link.user_id).executeTakeFirstOrThrow();
        return { verified: true, email: link.email, username: user.username };
      });
    } catch (error) {
      // Another account verified this address first (the unique index); the link stays unused (rolled back).
      if (isUniqueViolation(error)) return { verified: false, reason: 'taken' };
      throw error;
    }
  }
}
