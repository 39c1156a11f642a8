import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * Each table is written by one domain (ARCHITECTURE.md: "a domain writes only its own tables"); another domain asks
 * that domain's service. The top-level folder under src/ that owns each table.
 */
const OWNER: Record<string, string> = {
  users: 'accounts',
  api_keys: 'accounts',
  sessions: 'accounts',
  login_failures: 'accounts',
  totp_factors: 'accounts',
  recovery_codes: 'accounts',
  pending_sign_ins: 'accounts',
  webauthn_credentials: 'accounts',
  webauthn_challenges: 'accounts',
  audit_events: 'audit',
  oauth_clients: 'clients',
  client_logos: 'clients',
  client_errors: 'clients',
  oauth_grants: 'consent',
  oauth_budgets: 'consent',
  budget_reservations: 'consent',
  budget_leases: 'consent',
  oauth_codes: 'oauth',
  oauth_tokens: 'oauth',
  oauth_pending_requests: 'oauth',
  oauth_device_codes: 'oauth',
  oauth_device_confirmations: 'oauth',
  signing_keys: 'oidc',
  server_secrets: 'security',
  characters: 'resources',
  usage_records: 'generation',
  response_owners: 'generation',
  cache_invalidations: 'storage',
  migration_compatibility: 'storage',
  email_links: 'accounts',
  mail_outbox: 'mail',
  session_clients: 'oidc',
  event_outbox: 'events',
  event_attempts: 'events',
  budget_notices: 'events',
  oauth_agent_tokens: 'oauth',
  agent_budgets: 'consent',
  agent_reservations: 'consent',
};

/** Files that write a table named at run time, and why that is theirs to do. */
const WRITES_BY_NAME: Record<string, string> = {
  'security/sealed-columns.ts': 'key rotation re-seals every column SEALED_COLUMNS lists, in whichever domain holds it',
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'migrations' ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Kysely's writers and raw SQL's, by table name. */
const WRITES = [/\b(?:insertInto|updateTable|deleteFrom)\(\s*'([a-z_]+)'/g, /\b(?:insert\s+into|update|delete\s+from)\s+"?([a-z_]+)"?\s/gi];

function writesOf(text: string): string[] {
  const tables = new Set<string>();
  for (const pattern of WRITES) for (const match of text.matchAll(pattern)) if (match[1]! in OWNER) tables.add(match[1]!);
  return [...tables];
}

describe('table ownership', () => {
  const files = sources(SRC).map((path) => ({ file: relative(SRC, path).split('\\').join('/'), text: readFileSync(path, 'utf8') }));

  it('every table is written only by the domain that owns it', () => {
    const strays = files.flatMap(({ file, text }) => {
      const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : '(src)';
      return writesOf(text)
        .filter((table) => OWNER[table] !== folder)
        .map((table) => `${file} writes ${table} (owned by ${OWNER[table]})`);
    });
    expect(strays).toEqual([]);
  });

  it('sees the writes it checks: each owner writes its tables, so the patterns match real code', () => {
    const seen = new Set(files.flatMap(({ text }) => writesOf(text)));
    expect([...Object.keys(OWNER)].filter((table) => !seen.has(table))).toEqual([]);
    expect(writesOf(`await db.updateTable('oauth_tokens').set(x)`)).toEqual(['oauth_tokens']);
    expect(writesOf('sql`update oauth_budgets set spent = 1`')).toEqual(['oauth_budgets']);
  });

  it('knows every table of the schema, and writes by a run-time name only where listed', () => {
    const schema = readFileSync(join(SRC, 'storage/schema.ts'), 'utf8');
    const database = schema.slice(schema.indexOf('export interface Database'));
    const tables = [...database.matchAll(/^\s{2}([a-z_]+):/gm)].map((m) => m[1]!);
    expect(tables.sort()).toEqual(Object.keys(OWNER).sort());
    const byName = files.filter(({ text }) => /\b(?:update|insert into|delete from)\s+\$\{sql\.table\(/i.test(text)).map(({ file }) => file);
    expect(byName).toEqual(Object.keys(WRITES_BY_NAME));
  });
});
