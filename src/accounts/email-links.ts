import type { Kysely } from 'kysely';
import { randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database, EmailLinksTable } from '../storage/schema.js';

export type EmailLinkRow = EmailLinksTable;
type Purpose = EmailLinkRow['purpose'];

/** SPEC §11: a verification link lives 24 hours, a reset link 30 minutes. */
const LINK_TTL_MS: Record<Purpose, number> = { verify: 24 * 3_600_000, reset: 30 * 60_000 };

/** A password hash's stamp: a reset link made under one hash dies when the hash changes. */
export function passwordStamp(passwordHash: string): string {
  return sha256Hex(passwordHash);
}

/**
 * The tokens of mailed links (SPEC §11): 256 bits from the CSPRNG, stored
 * as SHA-256 only (a database reader cannot follow a link), used once.
 */
export class EmailLinks {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
  ) {}

  /** A new link's token, its row written with the caller's executor (the change's transaction). */
  async create(executor: Kysely<Database>, link: { purpose: Purpose; userId: string; email: string; passwordStamp?: string }): Promise<string> {
    const token = randomSecret('');
    const now = this.now();
    await executor
      .insertInto('email_links')
      .values({
        token_hash: sha256Hex(token),
        purpose: link.purpose,
        user_id: link.userId,
        email: link.email,
        password_stamp: link.passwordStamp ?? null,
        created_at: now,
        expires_at: now + LINK_TTL_MS[link.purpose],
      })
      .execute();
    return token;
  }

  /** The live link of this token, without using it (a page that asks before acting). */
  async find(token: string, purpose: Purpose): Promise<EmailLinkRow | undefined> {
    if (token.length !== 43) return undefined;
    return this.db.selectFrom('email_links').selectAll().where('token_hash', '=', sha256Hex(token)).where('purpose', '=', purpose).where('expires_at', '>', this.now()).executeTakeFirst();
  }

  /** Uses the link: deleted, so of two requests racing with one token only one gets the row. */
  async consume(executor: Kysely<Database>, token: string, purpose: Purpose): Promise<EmailLinkRow | undefined> {
    if (token.length !== 43) return undefined;
    return executor
      .deleteFrom('email_links')
      .where('token_hash', '=', sha256Hex(token))
      .where('purpose', '=', purpose)
      .where('expires_at', '>', this.now())
      .returningAll()
      .executeTakeFirst();
  }

  /** Every link of the user for this purpose (a new address, a new password: the old links die). */
  async deleteAll(executor: Kysely<Database>, userId: string, purpose: Purpose): Promise<void> {
    await executor.deleteFrom('email_links').where('user_id', '=', userId).where('purpose', '=', purpose).execute();
  }

  /** Expired links, for the pruner. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('email_links').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }
}
