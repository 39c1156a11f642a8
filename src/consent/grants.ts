import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { formatScopes, parseScopes } from '../oauth/tokens.js';

export interface Grant {
  userId: string;
  clientId: string;
  scopes: string[];
  createdAt: number;
  updatedAt: number;
}

/** What a user has allowed which app: user × client × scopes. */
export class GrantsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async find(userId: string, clientId: string): Promise<Grant | undefined> {
    const row = await this.db
      .selectFrom('oauth_grants')
      .selectAll()
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row && { userId: row.user_id, clientId: row.client_id, scopes: parseScopes(row.scopes), createdAt: row.created_at, updatedAt: row.updated_at };
  }

  /** True when a stored grant already allows every requested scope. */
  async covers(userId: string, clientId: string, scopes: string[]): Promise<boolean> {
    const grant = await this.find(userId, clientId);
    return grant !== undefined && scopes.every((s) => grant.scopes.includes(s));
  }

  /** Records an Allow: the grant becomes the union of what was allowed before and now. */
  async allow(userId: string, clientId: string, scopes: string[]): Promise<void> {
    const now = this.now();
    const existing = await this.find(userId, clientId);
    const merged = formatScopes([...(existing?.scopes ?? []), ...scopes]);
    await this.db
      .insertInto('oauth_grants')
      .values({ user_id: userId, client_id: clientId, scopes: merged, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scopes: merged, updated_at: now }))
      .execute();
  }

  /** How many users have authorized the client. */
  async countForClient(clientId: string): Promise<number> {
    const row = await this.db
      .selectFrom('oauth_grants')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
