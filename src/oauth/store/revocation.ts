import type { Kysely } from 'kysely';
import type { RevokeReason, Telemetry } from '../../http/telemetry.js';
import { parseScopes } from '../../scopes.js';
import { grantKey, type Invalidation, type InvalidationFeed } from '../../storage/invalidations.js';
import type { Database } from '../../storage/schema.js';
import { familyOfCode } from './credentials.js';

/** How many levels of sub-agent tokens may hang below a user's token (SPEC §15). */
export const MAX_AGENT_DEPTH = 3;

/**
 * Ends tokens, and announces what it ended to every process's caches in the
 * same transaction (the invalidation feed), so no instance serves a revoked
 * access token from memory past the feed's poll.
 */
export class Revocation {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly telemetry: Telemetry | null,
    private readonly feed: InvalidationFeed | null,
  ) {}

  /** RFC 6749 §4.1.2: a code used twice revokes every token issued from it. */
  async byCode(codeHash: string): Promise<number> {
    const family = familyOfCode(codeHash);
    return this.where('family_id', family, { kind: 'family', key: family }, 'code_replay');
  }

  /**
   * Revokes every token of a family: the refresh chain and all its access
   * tokens. `alongside` runs in the same transaction when tokens were revoked
   * (SPEC §13: the tokens.revoked event of a refresh replay).
   */
  async family(familyId: string, reason: 'revocation' | 'refresh_replay', alongside?: (trx: Kysely<Database>) => Promise<void>): Promise<number> {
    return this.where('family_id', familyId, { kind: 'family', key: familyId }, reason, alongside);
  }

  /**
   * Revokes one token and every sub-agent token exchanged below it (SPEC §15, at most 3 levels); returns how
   * many were live. The parent's row is updated first: an exchange holding it (AgentTokens.issue) commits
   * before this reads its children, or finds it revoked.
   */
  async token(tokenHash: string): Promise<number> {
    const count = await this.db.transaction().execute(async (trx) => {
      const now = this.now();
      let ended = Number((await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('token_hash', '=', tokenHash).where('revoked_at', 'is', null).executeTakeFirst()).numUpdatedRows);
      const events: Invalidation[] = [{ kind: 'token', key: tokenHash }];
      let frontier = [tokenHash];
      for (let level = 0; level < MAX_AGENT_DEPTH && frontier.length > 0; level++) {
        frontier = (await trx.selectFrom('oauth_agent_tokens').select('token_hash').where('parent_hash', 'in', frontier).execute()).map((r) => r.token_hash);
        if (frontier.length === 0) break;
        ended += Number((await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('token_hash', 'in', frontier).where('revoked_at', 'is', null).executeTakeFirst()).numUpdatedRows);
        events.push(...frontier.map((key) => ({ kind: 'token' as const, key })));
      }
      return this.ended(trx, ended, ...events);
    });
    return this.counted('revocation', count);
  }

  /**
   * Removing a scope from a client (SPEC §3) ends every code and live token
   * of that client that holds it; run in the caller's transaction so the
   * grants holding it end with them.
   */
  async clientScopes(trx: Kysely<Database>, clientId: string, removed: string[]): Promise<void> {
    const now = this.now();
    const holds = (scopes: string) => parseScopes(scopes).some((s) => removed.includes(s));
    const tokens = await trx.selectFrom('oauth_tokens').select(['token_hash', 'scopes']).where('client_id', '=', clientId).where('revoked_at', 'is', null).execute();
    const doomed = tokens.filter((t) => holds(t.scopes)).map((t) => t.token_hash);
    for (let i = 0; i < doomed.length; i += 500) {
      await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('token_hash', 'in', doomed.slice(i, i + 500)).execute();
    }
    this.counted('scope_removed', await this.ended(trx, doomed.length, { kind: 'client', key: clientId }));
    const codes = await trx.selectFrom('oauth_codes').select(['code_hash', 'scopes']).where('client_id', '=', clientId).execute();
    for (const code of codes.filter((c) => holds(c.scopes))) {
      await trx.deleteFrom('oauth_codes').where('code_hash', '=', code.code_hash).execute();
    }
  }

  /**
   * The operator suspended the client (SPEC §12): every live token of it dies
   * and nothing on its way to becoming one survives — its codes, and its device
   * codes whether still waiting or already approved (denied, so a poll after an
   * unsuspension gets access_denied, not tokens from before it). Every
   * process's caches hear of it from the client event the suspension itself
   * records in this transaction (ClientTrust, its one caller): one client
   * event ends them all.
   */
  async client(trx: Kysely<Database>, clientId: string): Promise<void> {
    const result = await trx.updateTable('oauth_tokens').set({ revoked_at: this.now() }).where('client_id', '=', clientId).where('revoked_at', 'is', null).executeTakeFirst();
    this.counted('client_suspended', Number(result.numUpdatedRows));
    await trx.deleteFrom('oauth_codes').where('client_id', '=', clientId).execute();
    await trx.updateTable('oauth_device_codes').set({ status: 'denied' }).where('client_id', '=', clientId).where('status', 'in', ['pending', 'approved']).execute();
  }

  /**
   * A grant was revoked: every token the app holds for the user dies, and neither its codes nor a device code
   * the user approved and the device has not yet polled for can become one.
   */
  async grant(trx: Kysely<Database>, userId: string, clientId: string): Promise<void> {
    const result = await trx
      .updateTable('oauth_tokens')
      .set({ revoked_at: this.now() })
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.counted('grant_revoked', await this.ended(trx, Number(result.numUpdatedRows), { kind: 'grant', key: grantKey(userId, clientId) }));
    await trx.deleteFrom('oauth_codes').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
    await trx.updateTable('oauth_device_codes').set({ status: 'denied' }).where('user_id', '=', userId).where('client_id', '=', clientId).where('status', '=', 'approved').execute();
  }

  /**
   * SPEC §12: the user was suspended. Every token they hold, with any app, dies, and nothing on its way to becoming
   * one survives: codes, pending authorization requests, device codes they approved, the device confirmation pages
   * they were shown. Tokens of apps they own that other users hold are not theirs and live on. Runs in the
   * suspension's transaction.
   */
  async user(trx: Kysely<Database>, userId: string): Promise<void> {
    const result = await trx.updateTable('oauth_tokens').set({ revoked_at: this.now() }).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst();
    this.counted('user_suspended', await this.ended(trx, Number(result.numUpdatedRows), { kind: 'user', key: userId }));
    await trx.deleteFrom('oauth_codes').where('user_id', '=', userId).execute();
    await trx.deleteFrom('oauth_pending_requests').where('user_id', '=', userId).execute();
    await trx.updateTable('oauth_device_codes').set({ status: 'denied' }).where('user_id', '=', userId).where('status', '=', 'approved').execute();
    // A confirmation page shown to them could otherwise still approve a code (a pending code has no user yet).
    await trx.deleteFrom('oauth_device_confirmations').where('user_id', '=', userId).execute();
  }

  /** Revokes the live tokens whose column holds the value, and announces what it ended, in one transaction. */
  private async where(column: 'family_id', value: string, event: Invalidation, reason: RevokeReason, alongside?: (trx: Kysely<Database>) => Promise<void>): Promise<number> {
    const count = await this.db.transaction().execute(async (trx) => {
      const result = await trx.updateTable('oauth_tokens').set({ revoked_at: this.now() }).where(column, '=', value).where('revoked_at', 'is', null).executeTakeFirst();
      const ended = await this.ended(trx, Number(result.numUpdatedRows), event);
      if (ended > 0) await alongside?.(trx);
      return ended;
    });
    return this.counted(reason, count);
  }

  /** Announces to every process's cache what a revocation ended (in its transaction), when it ended anything. */
  private async ended(trx: Kysely<Database>, count: number, ...events: Invalidation[]): Promise<number> {
    if (count > 0) await this.feed?.record(trx, events);
    return count;
  }

  private counted(reason: RevokeReason, count: number): number {
    this.telemetry?.tokensRevoked(reason, count);
    return count;
  }
}
