import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { KeyEncryption } from './key-encryption.js';
import { SERVER_SECRETS_COLUMN, sealContext } from './sealed-columns.js';

/**
 * A secret the whole deployment shares, created once by whichever instance
 * asks first: every instance signs and checks cookies with the same key.
 * Stored sealed under KEY_ENCRYPTION_SECRETS when it is set (SPEC §6).
 */
export async function sharedSecret(db: Kysely<Database>, name: string, encryption: KeyEncryption): Promise<string> {
  const context = sealContext(SERVER_SECRETS_COLUMN, name);
  await db
    .insertInto('server_secrets')
    .values({ name, value: encryption.seal(randomBytes(32).toString('base64url'), context), created_at: Date.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return encryption.open(row.value, context);
}
