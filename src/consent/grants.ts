import type { RequestOrigin } from '../http/request-context.js';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { formatScopes, parseScopes } from '../scopes.js';
import type { AuditService } from '../audit/service.js';
import type { EventOutbox } from '../events/outbox.js';
import type { GrantRevokedReason } from '../events/types.js';
import { grantKey, type InvalidationFeed } from '../storage/invalidations.js';
import { decodeChoice, encodeChoice, sameChoice, type CharacterChoice } from './character-choice.js';
import { EVERY_RESOURCE, audienceUnion, audienceWithin, formatAudience, parseAudience, type Audience } from '../audiences.js';

export interface Grant {
  userId: string;
  clientId: string;
  scopes: string[];
  createdAt: number;
  updatedAt: number;
  /** RFC 8707: the resources the user let the app reach. */
  audience: Audience;
  /** When the user last allowed it through /device (RFC 8628), or null. */
  deviceAt: number | null;
  /** The characters the app may see (SPEC §15): ids, or null for all, new ones too. */
  characters: CharacterChoice;
}

/**
 * Another domain's part in ending grants, run in the same transaction (the
 * consent domain writes only oauth_grants; oauth/ ends the tokens and codes).
 */
export type GrantsEndedHook = (trx: Kysely<Database>, userId: string, clientId: string) => Promise<void>;

/** What a user has allowed which app: user × client × scopes. */
export class GrantsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly onEnded: GrantsEndedHook = async () => {},
    private readonly audit: AuditService | null = null,
    /** SPEC §13: grant.revoked to the app's webhook, in the transaction that ends the grant. */
    private readonly events: EventOutbox | null = null,
    /** A changed character choice evicts the grant's cached tokens on every instance (they carry it). */
    private readonly feed: InvalidationFeed | null = null,
  ) {}

  async find(userId: string, clientId: string, executor: Kysely<Database> = this.db): Promise<Grant | undefined> {
    const row = await executor
      .selectFrom('oauth_grants')
      .selectAll()
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row && { userId: row.user_id, clientId: row.client_id, scopes: parseScopes(row.scopes), createdAt: row.created_at, updatedAt: row.updated_at, audience: parseAudience(row.resources), deviceAt: row.device_at, characters: decodeChoice(row.characters) };
  }

  /** True when a stored grant already allows every requested scope and resource. */
  async covers(userId: string, clientId: string, scopes: string[], audience: Audience = EVERY_RESOURCE): Promise<boolean> {
    const grant = await this.find(userId, clientId);
    return grant !== undefined && scopes.every((s) => grant.scopes.includes(s)) && audienceWithin(audience, grant.audience);
  }

  /**
   * The grant becomes the union of what was allowed before and now, scopes and resources alike. A user's
   * Allow is recorded through ConsentRecorder (consent/record.ts), which calls this with its transaction.
   */
  async allow(userId: string, clientId: string, scopes: string[], audience: Audience = EVERY_RESOURCE, how: { device?: boolean } = {}, executor: Kysely<Database> = this.db): Promise<void> {
    const now = this.now();
    const existing = await this.find(userId, clientId, executor);
    const merged = formatScopes([...(existing?.scopes ?? []), ...scopes]);
    const resources = formatAudience(existing ? audienceUnion(existing.audience, audience) : audience);
    await executor
      .insertInto('oauth_grants')
      .values({ user_id: userId, client_id: clientId, scopes: merged, created_at: now, updated_at: now, resources, device_at: how.device ? now : null })
      .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scopes: merged, updated_at: now, resources, ...(how.device ? { device_at: now } : {}) }))
      .execute();
  }

  /**
   * SPEC §15: the characters the app may see, set on the consent or device
   * page (in the decision's transaction) or the connected-apps card. A change
   * is announced on the invalidation feed in the same transaction: the
   * grant's tokens carry the choice in every instance's token cache, so the
   * next call on any instance obeys it (within the feed's 1 s bound), and
   * audited (grant.characters_changed). Returns false when there is no grant.
   */
  async setCharacters(userId: string, clientId: string, choice: CharacterChoice, executor?: Kysely<Database>, origin?: RequestOrigin): Promise<boolean> {
    const write = async (trx: Kysely<Database>) => {
      const grant = await this.find(userId, clientId, trx);
      if (!grant) return false;
      if (sameChoice(grant.characters, choice)) return true;
      await trx.updateTable('oauth_grants').set({ characters: encodeChoice(choice), updated_at: this.now() }).where('user_id', '=', userId).where('client_id', '=', clientId).execute();
      await this.feed?.record(trx, [{ kind: 'grant', key: grantKey(userId, clientId) }]);
      await this.audit?.record({ type: 'grant.characters_changed', userId, clientId, detail: { to: choice === null ? 'all' : choice.length } }, origin, trx);
      return true;
    };
    return executor ? write(executor) : this.db.transaction().execute(write);
  }

  /** Every app the user has authorized, newest first, with the client's name. */
  async listForUser(userId: string): Promise<Array<Grant & { clientName: string; unverified: boolean }>> {
    const rows = await this.db
      .selectFrom('oauth_grants')
      .innerJoin('oauth_clients', 'oauth_clients.id', 'oauth_grants.client_id')
      .select([
        'oauth_grants.user_id',
        'oauth_grants.client_id',
        'oauth_grants.scopes',
        'oauth_grants.created_at',
        'oauth_grants.updated_at',
        'oauth_grants.resources',
        'oauth_grants.device_at',
        'oauth_grants.characters',
        'oauth_clients.name',
        'oauth_clients.user_id as owner_id',
      ])
      .where('oauth_grants.user_id', '=', userId)
      .orderBy('oauth_grants.created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      userId: r.user_id,
      clientId: r.client_id,
      scopes: parseScopes(r.scopes),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      audience: parseAudience(r.resources),
      deviceAt: r.device_at,
      characters: decodeChoice(r.characters),
      clientName: r.name,
      // SPEC §8: registered and metadata-document clients have no owner anyone vouches for.
      unverified: r.owner_id === null,
    }));
  }

  /**
   * "Revoke access": the grant and every token the app holds for the user
   * die together, in one transaction, so the next request is refused.
   */
  async revokeAccess(userId: string, clientId: string, origin?: RequestOrigin, reason: Exclude<GrantRevokedReason, 'client_changed'> = 'user'): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const deleted = await trx.deleteFrom('oauth_grants').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
      await this.onEnded(trx, userId, clientId);
      const revoked = Number(deleted.numDeletedRows) > 0;
      if (revoked) {
        await this.audit?.record({ type: 'grant.revoked', userId, clientId }, origin, trx);
        await this.events?.webhook(trx, 'grant.revoked', userId, clientId, { reason });
      }
      return revoked;
    });
  }

  /** SPEC §3: a scope removed from a client ends every grant of it that holds the scope. */
  async endGrantsHolding(trx: Kysely<Database>, clientId: string, removed: string[]): Promise<void> {
    const grants = await trx.selectFrom('oauth_grants').select(['user_id', 'scopes']).where('client_id', '=', clientId).execute();
    for (const grant of grants.filter((g) => parseScopes(g.scopes).some((s) => removed.includes(s)))) {
      await trx.deleteFrom('oauth_grants').where('client_id', '=', clientId).where('user_id', '=', grant.user_id).execute();
      await this.events?.webhook(trx, 'grant.revoked', grant.user_id, clientId, { reason: 'client_changed' });
    }
  }

  /**
   * SPEC §12/§13: an admin suspended the user, and every token of theirs died (oauth/ ends them): each app
   * holding a grant of the user hears grant.revoked, reason "admin", in the suspension's transaction. The
   * grants themselves stay (a suspension ends sessions and tokens, not what the user allowed).
   */
  async userSuspended(trx: Kysely<Database>, userId: string): Promise<void> {
    if (!this.events) return;
    const grants = await trx.selectFrom('oauth_grants').select('client_id').where('user_id', '=', userId).execute();
    await this.events.webhookEach(trx, 'grant.revoked', userId, grants.map((g) => g.client_id), { reason: 'admin' });
  }

  /**
   * How many users have authorized the client (SPEC §12: the consent and device pages). The client row's count,
   * which migration 0031's triggers keep in step with its grants: one row read, however many people allowed it.
   */
  async countForClient(clientId: string): Promise<number> {
    const row = await this.db.selectFrom('oauth_clients').select('grant_count').where('id', '=', clientId).executeTakeFirst();
    return Number(row?.grant_count ?? 0);
  }
}
