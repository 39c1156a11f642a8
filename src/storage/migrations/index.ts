import type { Migration } from 'kysely';
import * as m0001 from './0001_accounts_and_clients.js';

/**
 * The one migration sequence for both dialects, in order. Names sort
 * lexically; a new migration gets the next number. Per-dialect SQL, where it
 * must differ, branches inside a migration on the dialect.
 */
export const migrations: Record<string, Migration> = {
  '0001_accounts_and_clients': m0001,
};
