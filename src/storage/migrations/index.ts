import type { Migration } from 'kysely';
import * as m0001 from './0001_accounts_and_clients.js';
import * as m0002 from './0002_sessions_and_oauth.js';
import * as m0003 from './0003_characters_and_usage.js';
import * as m0004 from './0004_audit_events.js';
import * as m0005 from './0005_openid_connect.js';
import * as m0006 from './0006_agents.js';
import * as m0007 from './0007_device_grant.js';
import * as m0008 from './0008_budgets.js';
import * as m0009 from './0009_cache_invalidations.js';
import * as m0010 from './0010_code_families.js';
import * as m0011 from './0011_device_confirmations.js';
import * as m0013 from './0013_audit_events_created.js';
import * as m0014 from './0014_refresh_grant_kept.js';

/**
 * The one migration sequence for both dialects, in order. Names sort
 * lexically; a new migration gets the next number. Per-dialect SQL, where it
 * must differ, branches inside a migration on the dialect.
 */
export const migrations: Record<string, Migration> = {
  '0001_accounts_and_clients': m0001,
  '0002_sessions_and_oauth': m0002,
  '0003_characters_and_usage': m0003,
  '0004_audit_events': m0004,
  '0005_openid_connect': m0005,
  '0006_agents': m0006,
  '0007_device_grant': m0007,
  '0008_budgets': m0008,
  '0009_cache_invalidations': m0009,
  '0010_code_families': m0010,
  '0011_device_confirmations': m0011,
  '0013_audit_events_created': m0013,
  '0014_refresh_grant_kept': m0014,
};
