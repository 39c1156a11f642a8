import type { Kysely } from 'kysely';
import type { Storage } from '../../src/storage/database.js';
import { migrateToLatest, type MigrateOptions } from '../../src/storage/migrate.js';
import { migrations } from '../../src/storage/migrations/index.js';
import { COMPATIBLE, type OlderVersions, type SerikaMigration } from '../../src/storage/migrations/older-versions.js';

/**
 * A newer version of Serika, played by this one with migrations added after
 * the product's (names sorting last): what it applies, this version (the
 * product's sequence, in process or the built CLI) then finds unknown.
 */
function newerVersion(extra: Record<string, SerikaMigration>): Record<string, SerikaMigration> {
  return { ...migrations, ...extra };
}

export function migrateAsNewerVersion(storage: Storage, extra: Record<string, SerikaMigration>, options: MigrateOptions = {}): Promise<string[]> {
  return migrateToLatest(storage, { ...options, migrations: newerVersion(extra) });
}

/** Expand: a nullable column on users and a new table, which this version's code never names. */
export const ADDITIVE = '9001_newer_nickname';
export const additive: SerikaMigration = {
  olderVersions: COMPATIBLE,
  up: async (db: Kysely<unknown>) => {
    await db.schema.alterTable('users').addColumn('nickname', 'text').execute();
    await db.schema.createTable('newer_badges').addColumn('id', 'text', (c) => c.primaryKey()).execute();
  },
};

/** A migration that declares older versions cannot run on what it leaves (a contract step without its expand). */
export const BREAKING = '9002_newer_drops_avatar';
export function breaking(olderVersions: OlderVersions = { compatible: false, breaks: 'users.avatar is gone' }): SerikaMigration {
  return { olderVersions, up: async (db: Kysely<unknown>) => void (await db.schema.createTable('newer_avatars').addColumn('id', 'text', (c) => c.primaryKey()).execute()) };
}
