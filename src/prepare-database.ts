import type { Config } from './config.js';
import { SigningKeys } from './oidc/signing-keys.js';
import { KeyEncryption } from './security/key-encryption.js';
import type { Storage } from './storage/database.js';
import { migrateToLatest } from './storage/migrate.js';

/**
 * Before serving or any CLI command (once, by the process that migrates): the
 * schema, and the OIDC signing keys (made on first start; a corrupt row, or
 * one no KEY_ENCRYPTION_SECRETS secret opens, stops the start here). Apart
 * from the server so a CLI command need not load the app. `warn` hears that a
 * newer version migrated the database (this one runs on it), or that a
 * migration waits for a lock.
 */
export async function prepareDatabase(storage: Storage, config: Config, warn: (message: string) => void): Promise<void> {
  await migrateToLatest(storage, { warn });
  await new SigningKeys(storage.db, config.idTokenTtl * 1000, new KeyEncryption(config.keyEncryptionSecrets)).ensure();
}
