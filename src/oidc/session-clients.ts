import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

export interface SessionClient {
  sid: string;
  clientId: string;
  userId: string;
}

/**
 * Which app got an ID token in which sign-in session (OpenID Back-Channel
 * Logout 1.0 §2.7: the OP sends a logout token to each RP the session
 * logged in to). Written when an ID token carrying the sid is minted, read
 * and cleared when the session ends.
 */
export class SessionClients {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
  ) {}

  async record(sid: string, clientId: string, userId: string): Promise<void> {
    await this.db
      .insertInto('session_clients')
      .values({ sid, client_id: clientId, user_id: userId, created_at: this.now() })
      .onConflict((oc) => oc.columns(['sid', 'client_id']).doNothing())
      .execute();
  }

  /** The apps of the ended sessions, taken in the transaction that ends them (so each hears of it once). */
  async take(trx: Kysely<Database>, sids: readonly string[]): Promise<SessionClient[]> {
    if (sids.length === 0) return [];
    const rows = await trx.deleteFrom('session_clients').where('sid', 'in', sids).returning(['sid', 'client_id', 'user_id']).execute();
    return rows.map((r) => ({ sid: r.sid, clientId: r.client_id, userId: r.user_id }));
  }

  /** Rows whose session is gone without ending (expired, or its user deleted), for the pruner. */
  async prune(trx: Kysely<Database>): Promise<number> {
    const result = await trx
      .deleteFrom('session_clients')
      .where((eb) => eb.not(eb.exists(eb.selectFrom('sessions').select('sessions.sid').whereRef('sessions.sid', '=', 'session_clients.sid'))))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
