// The admin console's lists at scale (SPEC §12): seeds 1,000,000 users and 100,000 clients with one bulk
// INSERT … SELECT each (a recursive CTE on SQLite, generate_series on PostgreSQL), then measures the lists and
// searches the console and /admin/api run, p50 and p99 over --runs calls each. Target: p99 < 50 ms.
// --grants N: the first page's ten apps are each allowed by N users (the apps list counts every app's grants).
//   npm run build && node bench/admin-lists.mjs [--pg] [--users 1000000] [--clients 100000] [--grants 0] [--runs 200]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { searchUsers } from '../dist/accounts/user-search.js';
import { searchClients } from '../dist/clients/admin-list.js';
import { openStorage } from '../dist/storage/database.js';
import { migrateToLatest } from '../dist/storage/migrate.js';
import { freshDatabase } from './serika.mjs';

const { values } = parseArgs({ options: { pg: { type: 'boolean' }, users: { type: 'string', default: '1000000' }, clients: { type: 'string', default: '100000' }, runs: { type: 'string', default: '200' }, grants: { type: 'string', default: '0' } } });
const USERS = Number(values.users);
const CLIENTS = Number(values.clients);
const RUNS = Number(values.runs);
const GRANTS = Math.min(Number(values.grants), USERS);
const dialect = values.pg ? 'postgres' : 'sqlite';
const db0 = await freshDatabase(dialect, process.env.TEST_DATABASE_URL_PG ?? 'postgres://postgres@127.0.0.1:5432/test');
const storage = openStorage(db0.url);
await migrateToLatest(storage);
const { db } = storage;

const seeding = performance.now();
if (dialect === 'sqlite') {
  // User i: id user_<i as 32 digits>, name user<i>, address user<i>@example<i % 100>.com.
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${USERS})
    insert into users (id, username, username_lower, email, password_hash, created_at, updated_at, role)
    select 'user_' || printf('%032d', i), 'User' || i, 'user' || i, 'User' || i || '@example' || (i % 100) || '.com', 'x', i, i, 'user' from n`.execute(db);
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${CLIENTS})
    insert into oauth_clients (id, user_id, name, redirect_uris, scopes, is_public, secret_hash, created_at, updated_at, kind)
    select 'client_' || printf('%032d', i), 'user_' || printf('%032d', (i * 7) % ${USERS} + 1), 'App ' || i, '["https://app.example/cb"]', 'profile', 0, null, i, i, 'owned' from n`.execute(db);
  if (GRANTS > 0) {
    await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${GRANTS})
      insert into oauth_grants (user_id, client_id, scopes, created_at, updated_at)
      select 'user_' || printf('%032d', n.i), c.id, 'profile', 1, 1 from n, (select id from oauth_clients order by lower(name), id limit 10) c`.execute(db);
  }
  await sql`analyze`.execute(db);
} else {
  await sql`insert into users (id, username, username_lower, email, password_hash, created_at, updated_at, role)
    select 'user_' || lpad(i::text, 32, '0'), 'User' || i, 'user' || i, 'User' || i || '@example' || (i % 100) || '.com', 'x', i, i, 'user' from generate_series(1, ${USERS}) i`.execute(db);
  await sql`insert into oauth_clients (id, user_id, name, redirect_uris, scopes, is_public, secret_hash, created_at, updated_at, kind)
    select 'client_' || lpad(i::text, 32, '0'), 'user_' || lpad(((i * 7) % ${USERS} + 1)::text, 32, '0'), 'App ' || i, '["https://app.example/cb"]', 'profile', 0, null, i, i, 'owned' from generate_series(1, ${CLIENTS}) i`.execute(db);
  if (GRANTS > 0) {
    await sql`insert into oauth_grants (user_id, client_id, scopes, created_at, updated_at)
      select 'user_' || lpad(i::text, 32, '0'), c.id, 'profile', 1, 1 from generate_series(1, ${GRANTS}) i, (select id from oauth_clients order by lower(name) collate "C", id limit 10) c`.execute(db);
  }
  await sql`analyze`.execute(db);
}
console.log(`${dialect}: seeded ${USERS} users, ${CLIENTS} clients and ${GRANTS * 10} grants in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);

const middleUser = dialect === 'sqlite' ? `user_${String(Math.floor(USERS / 2)).padStart(32, '0')}` : `user_${String(Math.floor(USERS / 2)).padStart(32, '0')}`;
const middleClient = `client_${String(Math.floor(CLIENTS / 2)).padStart(32, '0')}`;
const cases = [
  ['users: first page', () => searchUsers(db, dialect, undefined, { limit: 100 })],
  ['users: a page deep in the list', () => searchUsers(db, dialect, undefined, { limit: 100, after: middleUser })],
  ['users: q=user12 (11k match)', () => searchUsers(db, dialect, 'user12', { limit: 100 })],
  ['users: q=user (all match)', () => searchUsers(db, dialect, 'user', { limit: 100 })],
  ['users: q=user123456 (1 match)', () => searchUsers(db, dialect, 'User123456', { limit: 100 })],
  ['users: q=nobody (none)', () => searchUsers(db, dialect, 'nobody', { limit: 100 })],
  ['users: q=user4242@ (e-mail)', () => searchUsers(db, dialect, 'user4242@', { limit: 100 })],
  ['users: q=user4 after user500000 (none)', () => searchUsers(db, dialect, 'user4', { limit: 100, after: middleUser })],
  ['clients: first page', () => searchClients(db, dialect, undefined, { limit: 100 })],
  ['clients: a page deep in the list', () => searchClients(db, dialect, undefined, { limit: 100, after: middleClient })],
  ['clients: q=app 9 (11k match)', () => searchClients(db, dialect, 'app 9', { limit: 100 })],
  ['clients: q=client_id', () => searchClients(db, dialect, middleClient, { limit: 100 })],
];
let worst = 0;
for (const [name, run] of cases) {
  await run();
  const times = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    rows = (await run())?.rows.length ?? 0;
    times.push(performance.now() - started);
  }
  times.sort((x, y) => x - y);
  const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
  worst = Math.max(worst, Number(p(0.99)));
  console.log(`${name.padEnd(36)} rows ${String(rows).padStart(3)}  p50 ${p(0.5).padStart(7)} ms  p99 ${p(0.99).padStart(7)} ms`);
}
console.log(`${dialect}: worst p99 ${worst.toFixed(2)} ms (target < 50 ms)`);
await storage.close();
await db0.drop();
if (worst >= 50) process.exitCode = 1;
