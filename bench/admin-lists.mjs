// The admin console's lists at scale (SPEC §12, issue 35): seeds 1,000,000 users, 100,000 clients, --grants grants
// over the first apps of the list, --audit audit events and --usage usage records of the last 30 days, each with one
// bulk INSERT … SELECT (a recursive CTE on SQLite, generate_series on PostgreSQL), then measures the queries the
// console and /admin/api run — by calling them directly, not over HTTP: the figures are the database's and the
// query code's, without a request's fixed cost — p50 and p99 over --runs calls each. Target: p99 < 50 ms.
// `npm run bench` runs it on both dialects (BENCH_ONLY=admin for this section alone); alone:
//   npm run build && node bench/admin-lists.mjs [--pg] [--users 1000000] [--clients 100000] [--grants 1000000]
//     [--audit 1000000] [--usage 1000000] [--runs 200]
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { searchUsers } from '../dist/accounts/user-search.js';
import { searchAudit } from '../dist/audit/search.js';
import { searchClients } from '../dist/clients/admin-list.js';
import { PlatformUsageReport } from '../dist/generation/platform-usage.js';
import { openStorage } from '../dist/storage/database.js';
import { migrateToLatest } from '../dist/storage/migrate.js';
import { freshDatabase } from './serika.mjs';

export const ADMIN_TARGET_MS = 50;
const DAY_MS = 86_400_000;
const GRANTED_APPS = 10;

/** The i-th seeded row's id, as both dialects write it. */
const userId = (i) => `user_${String(i).padStart(32, '0')}`;
const clientId = (i) => `client_${String(i).padStart(32, '0')}`;

/**
 * Seeds one database. User i: username User<i>, e-mail User<i>@example<i % 100>.com. Client i: "App <i>", owned by
 * user (7i mod USERS) + 1. Grants: users 1…grants/10 allowed each of the list's first ten apps. Audit event i (one a
 * second, oldest first): every 10,000th client.suspended, every 10th grant.revoked, every 3rd sign_in.failed, the rest
 * sign_in.succeeded; every 5th about client 1 (a busy app), every other one about one of the 100,000 (five each: a
 * quiet app). Usage: records spread over the last 30 days, users and 1,000 apps.
 */
export async function seed(db, dialect, n, now) {
  const pad = (expr, width) => (dialect === 'sqlite' ? sql.raw(`printf('%0${width}d', ${expr})`) : sql.raw(`lpad((${expr})::text, ${width}, '0')`));
  // body (an INSERT … SELECT without its FROM) over i = 1…count, and `also` joined to it.
  const series = (count, body, also = null) => {
    const more = also ? sql`, ${also}` : sql``;
    return dialect === 'sqlite'
      ? sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${count}) ${body} from n${more}`
      : sql`${body} from generate_series(1, ${count}) as n(i)${more}`;
  };
  await series(n.users, sql`insert into users (id, username, username_lower, email, password_hash, created_at, updated_at, role)
    select 'user_' || ${pad('i', 32)}, 'User' || i, 'user' || i, 'User' || i || '@example' || (i % 100) || '.com', 'x', i, i, 'user'`).execute(db);
  await series(n.clients, sql`insert into oauth_clients (id, user_id, name, redirect_uris, scopes, is_public, secret_hash, created_at, updated_at, kind)
    select 'client_' || ${pad('i', 32)}, 'user_' || ${pad(`(i * 7) % ${n.users} + 1`, 32)}, 'App ' || i, '["https://app.example/cb"]', 'profile', 0, null, i, i, 'owned'`).execute(db);
  const perApp = Math.min(Math.floor(n.grants / GRANTED_APPS), n.users);
  if (perApp > 0) {
    const first = dialect === 'sqlite' ? sql`(select id from oauth_clients order by lower(name), id limit ${GRANTED_APPS}) c` : sql`(select id from oauth_clients order by lower(name) collate "C", id limit ${GRANTED_APPS}) c`;
    await series(perApp, sql`insert into oauth_grants (user_id, client_id, scopes, created_at, updated_at) select 'user_' || ${pad('n.i', 32)}, c.id, 'profile', 1, 1`, first).execute(db);
  }
  // Millisecond times as literals: PostgreSQL would type a parameter added to the integer i as an integer.
  const oldest = now - n.audit * 1000;
  await series(n.audit, sql`insert into audit_events (id, type, user_id, client_id, ip, detail, created_at)
    select 'ae_' || ${pad('i', 12)},
      case when i % 10000 = 0 then 'client.suspended' when i % 10 = 0 then 'grant.revoked' when i % 3 = 0 then 'sign_in.failed' else 'sign_in.succeeded' end,
      'user_' || ${pad(`(i * 13) % ${n.users} + 1`, 32)},
      case when i % 5 = 0 then 'client_' || ${pad('1', 32)} when i % 2 = 0 then 'client_' || ${pad(`(i * 17) % ${n.clients} + 1`, 32)} else null end,
      '127.0.0.1', '{}', ${sql.raw(String(oldest))} + cast(i as bigint) * 1000`).execute(db);
  const since = now - 30 * DAY_MS;
  const step = Math.max(1, Math.floor((30 * DAY_MS) / Math.max(1, n.usage)));
  const day = dialect === 'sqlite' ? sql.raw(`date((${since} + cast(i as bigint) * ${step}) / 1000, 'unixepoch')`) : sql.raw(`to_char(to_timestamp((${since} + cast(i as bigint) * ${step}) / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')`);
  const apps = Math.min(1000, n.clients);
  await series(n.usage, sql`insert into usage_records (id, user_id, client_id, client_name, api_key_id, endpoint, model, prompt_tokens, completion_tokens, images, status, latency_ms, day, created_at)
    select 'ur_' || ${pad('i', 12)}, 'user_' || ${pad(`(i * 31) % ${n.users} + 1`, 32)}, 'client_' || ${pad(`i % ${apps} + 1`, 32)}, 'App ' || (i % ${apps} + 1), null,
      'chat/completions', 'bench', 20 + i % 50, 40 + i % 100, 0, case when i % 50 = 0 then 502 else 200 end, 100, ${day}, ${sql.raw(`${since} + cast(i as bigint) * ${step}`)}`).execute(db);
  await sql`analyze`.execute(db);
}

/** The cases: [name, call]. */
function cases(db, dialect, n) {
  const middleUser = userId(Math.floor(n.users / 2));
  const middleClient = clientId(Math.floor(n.clients / 2));
  const quietApp = clientId(Math.floor(n.clients / 3));
  const middleEvent = `ae_${String(Math.floor(n.audit / 2)).padStart(12, '0')}`;
  const page = { limit: 100 };
  return [
    ['users: first page', () => searchUsers(db, dialect, undefined, page)],
    ['users: a page deep in the list', () => searchUsers(db, dialect, undefined, { ...page, after: middleUser })],
    ['users: by username, q=user12 (11k match)', () => searchUsers(db, dialect, 'user12', page)],
    ['users: by username, q=User123456 (1 match)', () => searchUsers(db, dialect, 'User123456', page)],
    ['users: q=user (all match)', () => searchUsers(db, dialect, 'user', page)],
    ['users: q=nobody (none)', () => searchUsers(db, dialect, 'nobody', page)],
    ['users: by e-mail, q=user4242@', () => searchUsers(db, dialect, 'user4242@', page)],
    ['users: q=user4 after the middle (none)', () => searchUsers(db, dialect, 'user4', { ...page, after: middleUser })],
    [`apps: first page (its apps hold ${n.grants.toLocaleString('en-US')} grants)`, () => searchClients(db, dialect, undefined, page)],
    ['apps: a page deep in the list', () => searchClients(db, dialect, undefined, { ...page, after: middleClient })],
    ['apps: q=app 9 (11k match)', () => searchClients(db, dialect, 'app 9', page)],
    ['apps: q=a client_id', () => searchClients(db, dialect, middleClient, page)],
    ['audit: first page, no filter', () => searchAudit(db, {}, page)],
    ['audit: type=client.suspended (1 in 10,000)', () => searchAudit(db, { type: 'client.suspended' }, page)],
    ['audit: type=sign_in.failed, a page deep', () => searchAudit(db, { type: 'sign_in.failed' }, { ...page, before: middleEvent })],
    ['audit: a quiet app (a handful of events)', () => searchAudit(db, { clientId: quietApp }, page)],
    ['audit: a busy app (1 event in 5)', () => searchAudit(db, { clientId: clientId(1) }, page)],
    ['audit: a busy app and a type', () => searchAudit(db, { clientId: clientId(1), type: 'grant.revoked' }, page)],
    [`usage page: 30 days, ${n.usage.toLocaleString('en-US')} records (computed at most once per 5 min; pages served from it)`, () => new PlatformUsageReport(db, () => n.now).read()], // a new report each call: the computation
  ];
}

/** Seeds a fresh database of the dialect, measures each case, drops it. Returns [{ name, p50, p99, rows }]. */
export async function adminLists({ dialect, pgUrl, users = 1_000_000, clients = 100_000, grants = 1_000_000, audit = 1_000_000, usage = 1_000_000, runs = 200, log = console.log }) {
  const db0 = await freshDatabase(dialect, pgUrl);
  const storage = openStorage(db0.url);
  try {
    await migrateToLatest(storage);
    const { db } = storage;
    const now = Date.now();
    const n = { users, clients, grants: Math.min(grants, users * GRANTED_APPS), audit, usage, now };
    const seeding = performance.now();
    await seed(db, dialect, n, now);
    log(`  ${dialect}: seeded ${users} users, ${clients} clients, ${n.grants} grants, ${audit} audit events and ${usage} usage records in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    const results = [];
    for (const [name, run] of cases(db, dialect, n)) {
      await run();
      const times = [];
      let rows = 0;
      // --runs calls, or fewer (20 at least) for a case that is far too slow to take that many within 10 s.
      const until = performance.now() + 10_000;
      for (let i = 0; i < runs && (i < 20 || performance.now() < until); i++) {
        const started = performance.now();
        const answer = await run();
        times.push(performance.now() - started);
        rows = answer?.rows?.length ?? answer?.days?.length ?? 0;
      }
      times.sort((x, y) => x - y);
      const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
      results.push({ name, p50: p(0.5), p99: p(0.99), rows, calls: times.length });
      log(`  ${name.padEnd(52)} rows ${String(rows).padStart(3)}  p50 ${p(0.5).toFixed(2).padStart(8)} ms  p99 ${p(0.99).toFixed(2).padStart(8)} ms  (${times.length} calls)`);
    }
    return results;
  } finally {
    await storage.close();
    await db0.drop();
    // A SQLite database of this size is over a gigabyte: not left in the temporary folder.
    if (dialect === 'sqlite') for (const suffix of ['', '-wal', '-shm']) rmSync(db0.url.slice('sqlite:'.length) + suffix, { force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opt = (d) => ({ type: 'string', default: d });
  const { values } = parseArgs({ options: { pg: { type: 'boolean' }, users: opt('1000000'), clients: opt('100000'), grants: opt('1000000'), audit: opt('1000000'), usage: opt('1000000'), runs: opt('200') } });
  const dialect = values.pg ? 'postgres' : 'sqlite';
  const numbers = Object.fromEntries(['users', 'clients', 'grants', 'audit', 'usage', 'runs'].map((k) => [k, Number(values[k])]));
  const results = await adminLists({ dialect, pgUrl: process.env.TEST_DATABASE_URL_PG ?? 'postgres://postgres@127.0.0.1:5432/test', ...numbers });
  const worst = Math.max(...results.map((r) => r.p99));
  console.log(`${dialect}: worst p99 ${worst.toFixed(2)} ms (target < ${ADMIN_TARGET_MS} ms)`);
  if (worst >= ADMIN_TARGET_MS) process.exitCode = 1;
}
