import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';

/** A day past expiry keeps replays of the recently expired answered as such. */
const GRACE_MS = 86_400_000;

/**
 * Prunes what can never be used again (run in the pruner's transaction):
 * pending requests past their ten minutes, and codes and tokens a day past
 * their expiry. Returns the rows deleted per kind.
 */
export async function pruneOAuthState(trx: Kysely<Database>, now: number): Promise<Record<string, number>> {
  const pending = await trx.deleteFrom('oauth_pending_requests').where('expires_at', '<', now).executeTakeFirst();
  const codes = await trx.deleteFrom('oauth_codes').where('expires_at', '<', now - GRACE_MS).executeTakeFirst();
  const tokens = await trx.deleteFrom('oauth_tokens').where('expires_at', '<', now - GRACE_MS).executeTakeFirst();
  return { pendingRequests: Number(pending.numDeletedRows), codes: Number(codes.numDeletedRows), tokens: Number(tokens.numDeletedRows) };
}
