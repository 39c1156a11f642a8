import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { isSealed, type KeyEncryption, type SealContext } from './key-encryption.js';

/**
 * The columns whose values KEY_ENCRYPTION_SECRETS seals (SPEC §6), each
 * keyed by the row's id, which is part of the sealed value's context. A new
 * kind of key at rest (TOTP secrets) adds its column here, and
 * `serika secrets reencrypt` and the start's check cover it.
 */
export interface SealedColumn {
  readonly table: keyof Database;
  readonly id: string;
  readonly column: string;
  /** What the column holds, as the CLI reports it. */
  readonly holds: string;
  /** One value of it, as messages name it (with the row's id after it). */
  readonly one: string;
}

export const SIGNING_KEYS_COLUMN = { table: 'signing_keys', id: 'kid', column: 'private_jwk', holds: 'private signing keys', one: 'the private signing key' } as const satisfies SealedColumn;
export const SERVER_SECRETS_COLUMN = { table: 'server_secrets', id: 'name', column: 'value', holds: 'cookie and CSRF keys', one: 'the server secret' } as const satisfies SealedColumn;

export const TOTP_SECRETS_COLUMN = { table: 'totp_factors', id: 'user_id', column: 'secret', holds: 'TOTP secrets', one: 'the TOTP secret of user' } as const satisfies SealedColumn;

/** Webhook signing secrets (SPEC §13): HMAC keys Serika must use, so sealed rather than hashed. */
export const WEBHOOK_SECRETS_COLUMN = { table: 'oauth_clients', id: 'id', column: 'webhook_secret', holds: 'webhook signing secrets', one: 'the webhook secret of client' } as const satisfies SealedColumn;

const SEALED_COLUMNS: readonly SealedColumn[] = [SIGNING_KEYS_COLUMN, SERVER_SECRETS_COLUMN, TOTP_SECRETS_COLUMN, WEBHOOK_SECRETS_COLUMN];

/** The context a value is sealed for: its table, column and row (a value copied to another row does not open). */
export function sealContext(column: SealedColumn, id: string): SealContext {
  return { aad: `${column.table}.${column.column}:${id}`, label: `${column.one} ${id}` };
}

export interface ReencryptResult {
  column: SealedColumn;
  /** Were sealed under another secret, now under the first. */
  resealed: number;
  /** Were plain, now sealed. */
  sealed: number;
  /** Already under the first secret. */
  unchanged: number;
  /** Written by someone else between the read and the update (left as that writer stored it). */
  changedMeanwhile: number;
}

/**
 * `serika secrets reencrypt`: every value of every sealed column opened (with
 * any configured secret) and sealed again under the first. Each row is
 * updated only if it still holds what was read, so a concurrent writer's value
 * is never overwritten with an older one. Fails on the first value no
 * configured secret opens, before writing anything for that column.
 */
export async function reencrypt(db: Kysely<Database>, encryption: KeyEncryption): Promise<ReencryptResult[]> {
  const results: ReencryptResult[] = [];
  for (const column of SEALED_COLUMNS) {
    const rows = await sql<{ id: string; value: string }>`select ${sql.ref(column.id)} as id, ${sql.ref(column.column)} as value from ${sql.table(column.table)} where ${sql.ref(column.column)} is not null`.execute(db);
    const result: ReencryptResult = { column, resealed: 0, sealed: 0, unchanged: 0, changedMeanwhile: 0 };
    const updates = rows.rows.flatMap(({ id, value }) => {
      if (encryption.isCurrent(value)) {
        result.unchanged++;
        return [];
      }
      const context = sealContext(column, id);
      return [{ id, value, next: encryption.seal(encryption.open(value, context), context), wasPlain: !isSealed(value) }];
    });
    for (const { id, value, next, wasPlain } of updates) {
      const updated = await sql`update ${sql.table(column.table)} set ${sql.ref(column.column)} = ${next} where ${sql.ref(column.id)} = ${id} and ${sql.ref(column.column)} = ${value}`.execute(db);
      if (Number(updated.numAffectedRows ?? 0) === 0) result.changedMeanwhile++;
      else if (wasPlain) result.sealed++;
      else result.resealed++;
    }
    results.push(result);
  }
  return results;
}

/**
 * How many values of each sealed column are not as seal() would store them
 * now (plain, or under a secret other than the first): the start warns, so a
 * secret added or rotated without `serika secrets reencrypt` is noticed.
 */
async function staleSealedValues(db: Kysely<Database>, encryption: KeyEncryption): Promise<Array<{ column: SealedColumn; count: number }>> {
  const prefix = encryption.currentPrefix;
  if (prefix === null) return [];
  const counts = [];
  for (const column of SEALED_COLUMNS) {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(column.table)} where substr(${sql.ref(column.column)}, 1, ${prefix.length}) <> ${prefix}`.execute(db);
    const count = Number(rows[0]?.n ?? 0);
    if (count > 0) counts.push({ column, count });
  }
  return counts;
}

/**
 * What the start warns about (SPEC §1): keys stored plain on a public (https)
 * deployment, and values not sealed under the first secret (a secret set or
 * put first without `serika secrets reencrypt` afterwards).
 */
export async function keyEncryptionWarnings(publicUrl: string, db: Kysely<Database>, encryption: KeyEncryption): Promise<string[]> {
  if (!encryption.enabled) {
    return publicUrl.startsWith('https:')
      ? ['KEY_ENCRYPTION_SECRETS is not set: private signing keys, the cookie and CSRF keys, TOTP secrets and webhook secrets are stored in the database in the clear, so any copy of it (a backup) gives them away; set it (docs/deploying.md)']
      : [];
  }
  return (await staleSealedValues(db, encryption)).map(
    ({ column, count }) =>
      `${count} ${column.holds} (${column.table}.${column.column}) are not sealed under the first KEY_ENCRYPTION_SECRETS secret: run npx serika secrets reencrypt`,
  );
}
