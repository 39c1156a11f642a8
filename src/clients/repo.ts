import type { Kysely } from 'kysely';
import type { Database, OAuthClientsTable } from '../storage/schema.js';
import { prepared } from '../storage/prepared.js';
import type { InvalidationFeed } from '../storage/invalidations.js';

export type ClientRow = OAuthClientsTable;

export type ClientChanges = Partial<
  Pick<
    ClientRow,
    | 'name'
    | 'redirect_uris'
    | 'scopes'
    | 'secret_hash'
    | 'updated_at'
    | 'id_token_signing_alg'
    | 'post_logout_redirect_uris'
    | 'grant_types'
    | 'webhook_url'
    | 'webhook_events'
    | 'webhook_secret'
    | 'backchannel_logout_uri'
    | 'logo_uri'
    | 'client_uri'
    | 'policy_uri'
    | 'tos_uri'
    | 'contacts'
  >
>;

export class ClientsRepo {
  private readonly selectById;

  /** feed: caches of clients (and of their tokens, which a deletion takes by cascade) hear of every change here. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly feed: InvalidationFeed | null = null,
  ) {
    this.selectById = prepared(db, (d) => d.selectFrom('oauth_clients').selectAll().where('id', '=', ''));
  }

  async insert(row: ClientRow): Promise<void> {
    await this.db.insertInto('oauth_clients').values(row).execute();
  }

  /**
   * A metadata document's client, fetched again: what the document says is
   * replaced, while when Serika first saw it and last granted it are kept.
   */
  async upsertDocument(row: ClientRow): Promise<void> {
    const { name, redirect_uris, scopes, id_token_signing_alg, post_logout_redirect_uris, metadata, metadata_expires_at, updated_at, grant_types } = row;
    // The operator's verification or suspension, and the logo's fetch state, are Serika's, never the document's.
    const { logo_uri, client_uri, policy_uri, tos_uri, contacts } = row;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('oauth_clients')
        .values(row)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({
            name,
            redirect_uris,
            scopes,
            id_token_signing_alg,
            post_logout_redirect_uris,
            metadata,
            metadata_expires_at,
            updated_at,
            grant_types,
            logo_uri,
            client_uri,
            policy_uri,
            tos_uri,
            contacts,
          }),
        )
        .execute();
      await this.feed?.record(trx, [{ kind: 'client', key: row.id }]);
    });
  }

  async markGranted(id: string, now: number, executor: Kysely<Database> = this.db): Promise<void> {
    await executor.updateTable('oauth_clients').set({ last_granted_at: now }).where('id', '=', id).where('user_id', 'is', null).execute();
  }

  /**
   * SPEC §8: ownerless clients no user has granted for 30 days go (their
   * codes and revoked tokens with them, by cascade). Run in the pruner's transaction.
   */
  async deleteUnusedOwnerless(trx: Kysely<Database>, before: number): Promise<number> {
    const deleted = await trx
      .deleteFrom('oauth_clients')
      .where('user_id', 'is', null)
      .where('kind', '!=', 'owned')
      .where('created_at', '<', before)
      .where((eb) => eb.or([eb('last_granted_at', 'is', null), eb('last_granted_at', '<', before)]))
      .where((eb) => eb.not(eb.exists(eb.selectFrom('oauth_grants').select('oauth_grants.client_id').whereRef('oauth_grants.client_id', '=', 'oauth_clients.id'))))
      .returning('id')
      .execute();
    await this.feed?.record(trx, deleted.map(({ id }) => ({ kind: 'client', key: id })));
    return deleted.length;
  }

  async findById(id: string): Promise<ClientRow | undefined> {
    return (await this.selectById(id)).rows[0];
  }

  /** Scoped to the owner, so another user's client is simply not found. */
  async findOwned(userId: string, id: string): Promise<ClientRow | undefined> {
    return this.db
      .selectFrom('oauth_clients')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  async countOwned(userId: string): Promise<number> {
    const row = await this.db.selectFrom('oauth_clients').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async listOwned(userId: string): Promise<ClientRow[]> {
    return this.db
      .selectFrom('oauth_clients')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  async updateOwned(userId: string, id: string, changes: ClientChanges): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.updateTable('oauth_clients').set(changes).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      const updated = Number(result.numUpdatedRows) > 0;
      // A cached copy (the token endpoint's) must not keep an old secret, redirect URI or scope.
      if (updated) await this.feed?.record(trx, [{ kind: 'client', key: id }]);
      return updated;
    });
  }

  async deleteOwned(userId: string, id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('oauth_clients').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      const deleted = Number(result.numDeletedRows) > 0;
      if (deleted) await this.feed?.record(trx, [{ kind: 'client', key: id }]);
      return deleted;
    });
  }
}
