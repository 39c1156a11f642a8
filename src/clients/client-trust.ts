import type { Kysely } from 'kysely';
import type { AuditService } from '../audit/service.js';
import { notFound } from '../errors.js';
import type { RequestOrigin } from '../http/request-context.js';
import type { InvalidationFeed } from '../storage/invalidations.js';
import type { Database } from '../storage/schema.js';
import { toRegisteredClient, type RegisteredClient } from './service.js';

/** Ends every token and code of a suspended client, in the suspension's transaction (oauth/ owns tokens). */
export type ClientSuspendedHook = (trx: Kysely<Database>, clientId: string) => Promise<void>;

/** Sends at once the events held while the client was suspended (events/ owns them), in the unsuspension's transaction. */
export type ClientUnsuspendedHook = (trx: Kysely<Database>, clientId: string) => Promise<void>;

type Decision = 'verify' | 'unverify' | 'suspend' | 'unsuspend';

const EVENT = { verify: 'client.verified', unverify: 'client.unverified', suspend: 'client.suspended', unsuspend: 'client.unsuspended' } as const;

/**
 * The operator's decisions on an app (SPEC §12), for the admin console, its
 * API and the CLI: verify and unverify (the consent page then says "Verified
 * by OPERATOR_NAME"), suspend (every token dies at once on every instance,
 * through the invalidation feed; authorize and the token endpoint refuse it)
 * and unsuspend (new authorizations only: old tokens stay dead; the
 * webhook and logout events held while it was suspended go out at once). `actor` is
 * the admin's user id, or null for the CLI; each decision is an audit event.
 */
export class ClientTrust {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly onSuspended: ClientSuspendedHook,
    private readonly audit: AuditService | null = null,
    private readonly feed: InvalidationFeed | null = null,
    private readonly now: () => number = Date.now,
    private readonly onUnsuspended: ClientUnsuspendedHook | null = null,
  ) {}

  async verify(clientId: string, actor: string | null, origin?: RequestOrigin): Promise<RegisteredClient> {
    return this.decide('verify', clientId, actor, origin);
  }

  async unverify(clientId: string, actor: string | null, origin?: RequestOrigin): Promise<RegisteredClient> {
    return this.decide('unverify', clientId, actor, origin);
  }

  async suspend(clientId: string, actor: string | null, origin?: RequestOrigin): Promise<RegisteredClient> {
    return this.decide('suspend', clientId, actor, origin);
  }

  async unsuspend(clientId: string, actor: string | null, origin?: RequestOrigin): Promise<RegisteredClient> {
    return this.decide('unsuspend', clientId, actor, origin);
  }

  /** Repeating a decision changes nothing and records nothing (suspending twice ends no token twice). */
  private async decide(decision: Decision, clientId: string, actor: string | null, origin?: RequestOrigin): Promise<RegisteredClient> {
    const now = this.now();
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('oauth_clients').selectAll().where('id', '=', clientId).executeTakeFirst();
      if (!row) throw notFound('client');
      const changes = {
        verify: row.verified_at === null ? { verified_at: now, verified_by: actor } : null,
        unverify: row.verified_at !== null ? { verified_at: null, verified_by: null } : null,
        suspend: row.suspended_at === null ? { suspended_at: now, suspended_by: actor } : null,
        unsuspend: row.suspended_at !== null ? { suspended_at: null, suspended_by: null } : null,
      }[decision];
      if (changes === null) return toRegisteredClient(row);
      await trx.updateTable('oauth_clients').set(changes).where('id', '=', clientId).execute();
      // Every process's client cache must see the new state before the next request it serves.
      await this.feed?.record(trx, [{ kind: 'client', key: clientId }]);
      if (decision === 'suspend') await this.onSuspended(trx, clientId);
      if (decision === 'unsuspend') await this.onUnsuspended?.(trx, clientId);
      // The event concerns the app's owner (null: self-registered); the admin is its actor.
      await this.audit?.record({ type: EVENT[decision], userId: row.user_id, actorId: actor, clientId, detail: { name: row.name, by: actor === null ? 'cli' : 'admin' } }, origin, trx);
      return toRegisteredClient({ ...row, ...changes });
    });
  }
}
