import type { Insertable, Kysely } from 'kysely';
import { preparedNamed } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';
import type { Principal } from './usage.js';

const DAY_MS = 86_400_000;
/** How long an owner is kept: OpenAI keeps a stored response 30 days; past that its id answers 404 here. */
const RESPONSE_OWNERSHIP_DAYS = 30;

/** A response as its owner may reach it. */
export interface OwnedResponse {
  /** Input + output tokens of the response: what continuing it adds to a prompt at most (SPEC §10). */
  contextTokens: number;
}

/** A response the upstream made for a principal, as its usage row records it. */
export interface NewResponse {
  responseId: string;
  principal: Principal;
  contextTokens: number;
}

/**
 * Who made each upstream response (SPEC §14). The upstream has one key for
 * every user, so its response ids are global: Serika answers for an id only
 * to the user and app that made it. An app is its client id; API-key calls
 * are the user's own (clientId null), whichever key made them.
 */
const OWNER_COLUMNS = ['response_id', 'user_id', 'client_id', 'api_key_id', 'context_tokens', 'created_at'] as const;

export class ResponseOwners {
  /** Every response's owner row, compiled once for this database (it rides on the usage commit of each call). */
  private readonly insert = preparedNamed(OWNER_COLUMNS, (db: Kysely<Database>, p) =>
    db
      .insertInto('response_owners')
      .values(p)
      .onConflict((oc) => oc.column('response_id').doNothing()),
  );

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The response, when `principal` made it; null for anyone else's, unknown or pruned. */
  async find(principal: Principal, responseId: string): Promise<OwnedResponse | null> {
    const row = await this.db.selectFrom('response_owners').select(['user_id', 'client_id', 'context_tokens']).where('response_id', '=', responseId).executeTakeFirst();
    if (!row || row.user_id !== principal.userId || row.client_id !== principal.clientId) return null;
    return { contextTokens: Number(row.context_tokens) };
  }

  /** Written in the transaction of the call's usage row. An id already owned keeps its first owner. */
  async record(trx: Kysely<Database>, made: NewResponse): Promise<void> {
    await this.insert(trx, {
      response_id: made.responseId,
      user_id: made.principal.userId,
      client_id: made.principal.clientId,
      api_key_id: made.principal.apiKeyId,
      context_tokens: Math.max(0, Math.floor(made.contextTokens)),
      created_at: this.now(),
    } satisfies Insertable<Database['response_owners']>);
  }

  /** After the upstream deleted it. */
  async forget(responseId: string): Promise<void> {
    await this.db.deleteFrom('response_owners').where('response_id', '=', responseId).execute();
  }

  /** Owners of responses the upstream no longer keeps. */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('response_owners').where('created_at', '<', now - RESPONSE_OWNERSHIP_DAYS * DAY_MS).executeTakeFirst()).numDeletedRows);
  }
}
