import type { Kysely } from 'kysely';
import { randomId } from '../../security/secrets.js';
import type { Database, OAuthPendingRequestsTable } from '../../storage/schema.js';

export type PendingRequest = OAuthPendingRequestsTable;

/** Pending consent requests live ten minutes: long enough to read the page, short enough to go stale safely. */
const PENDING_TTL_MS = 10 * 60 * 1000;

type NewPendingRequest = Omit<PendingRequest, 'id' | 'created_at' | 'expires_at' | 'nonce' | 'auth_time' | 'resources' | 'amr' | 'sid'> &
  Partial<Pick<PendingRequest, 'nonce' | 'auth_time' | 'resources' | 'amr' | 'sid'>>;

/** An authorization request waiting for the user's decision on the consent page. */
export class PendingRequests {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
  ) {}

  async create(request: NewPendingRequest): Promise<string> {
    const now = this.now();
    const id = randomId('req_');
    await this.db
      .insertInto('oauth_pending_requests')
      .values({ nonce: null, auth_time: null, resources: null, amr: null, sid: null, ...request, id, created_at: now, expires_at: now + PENDING_TTL_MS })
      .execute();
    return id;
  }

  /** Single use: the row is deleted as it is read, so a decision is taken once even if posted twice. */
  async take(id: string, userId: string): Promise<PendingRequest | undefined> {
    const row = await this.db.deleteFrom('oauth_pending_requests').where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst();
    return row && row.expires_at > this.now() ? row : undefined;
  }
}
