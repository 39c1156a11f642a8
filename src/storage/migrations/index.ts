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
import * as m0015 from './0015_migration_compatibility.js';
import * as m0016 from './0016_email_links.js';
import * as m0017 from './0017_mail_outbox.js';
import * as m0018 from './0018_second_factors.js';
import * as m0019 from './0019_amr_through_grants.js';
import * as m0020 from './0020_session_devices.js';
import * as m0021 from './0021_pending_sign_in_failures.js';
import * as m0022 from './0022_passkeys.js';
import * as m0023 from './0023_response_owners.js';
import * as m0024 from './0024_events.js';
import * as m0025 from './0025_trusted_apps.js';
import * as m0026 from './0026_roles_and_suspension.js';
import * as m0027 from './0027_agent_tokens.js';
import * as m0028 from './0028_grant_characters.js';
import * as m0029 from './0029_device_sid.js';
import * as m0030 from './0030_budget_leases.js';
import * as m0031 from './0031_client_grant_count.js';
import * as m0032 from './0032_audit_filter_indexes.js';
import * as m0033 from './0033_session_confirmed.js';
import * as m0034 from './0034_budget_slices_released.js';
import type { SerikaMigration } from './older-versions.js';

/**
 * The one migration sequence for both dialects, in order. Names sort
 * lexically; a new migration gets the next number (0012 was never used).
 * Per-dialect SQL, where it must differ, branches inside a migration on the
 * dialect. Each declares what it leaves for older versions, and a few
 * conventions keep a migration from stalling the service: README.md here.
 */
export const migrations: Record<string, SerikaMigration> = {
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
  '0015_migration_compatibility': m0015,
  '0016_email_links': m0016,
  '0017_mail_outbox': m0017,
  '0018_second_factors': m0018,
  '0019_amr_through_grants': m0019,
  '0020_session_devices': m0020,
  '0021_pending_sign_in_failures': m0021,
  '0022_passkeys': m0022,
  '0023_response_owners': m0023,
  '0024_events': m0024,
  '0025_trusted_apps': m0025,
  '0026_roles_and_suspension': m0026,
  '0027_agent_tokens': m0027,
  '0028_grant_characters': m0028,
  '0029_device_sid': m0029,
  '0030_budget_leases': m0030,
  '0031_client_grant_count': m0031,
  '0032_audit_filter_indexes': m0032,
  '0033_session_confirmed': m0033,
  '0034_budget_slices_released': m0034,
};

/**
 * The migration that creates migration_compatibility: it and every later one
 * record their row in their own run; the rows of those before it are written
 * afterwards (migrate.ts), as no version that reads the table lacks them.
 */
export const RECORDED_FROM = '0015_migration_compatibility';
