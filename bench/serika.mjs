// Setting up Serika for the benchmark: a fresh database seeded through the
// product's own services, codes minted through the real authorize endpoint.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { request } from 'undici';
import { parseConfig } from '../dist/config.js';
import { createServices } from '../dist/services.js';
import { openStorage } from '../dist/storage/database.js';
import { migrateToLatest } from '../dist/storage/migrate.js';
import { BudgetsService } from '../dist/consent/budgets.js';
import { InvalidationFeed } from '../dist/storage/invalidations.js';
import { mint } from '../dist/oauth/store/credentials.js';
import { startChild } from './lib.mjs';

export const BENCH_DIR = mkdtempSync(join(tmpdir(), 'serika-bench-'));

export async function freshDatabase(dialect, pgUrl) {
  if (dialect === 'sqlite') return { url: `sqlite:${join(BENCH_DIR, `bench-${randomBytes(4).toString('hex')}.db`)}`, drop: async () => {} };
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client(pgUrl);
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(pgUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client(pgUrl);
      await c.connect();
      await c.query(`drop schema ${schema} cascade`);
      await c.end();
    },
  };
}

/** Seeds a user, a signed-in session, a confidential client with a stored grant, and a live access token. */
export async function seed(databaseUrl) {
  const config = parseConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', AUTH_CODE_TTL: '3600' });
  const storage = openStorage(databaseUrl);
  await migrateToLatest(storage);
  const s = createServices(config, storage);
  const user = await s.users.create({ username: `bench_${randomBytes(3).toString('hex')}`, password: 'bench password 123' });
  const client = await s.clients.create(user.id, { name: 'Bench App', redirectUris: ['https://bench.example.com/cb'], scopes: ['profile', 'generations', 'characters'] });
  const scopes = ['profile', 'generations', 'characters'];
  await s.grants.allow(user.id, client.clientId, [...scopes, 'openid']);
  const session = await s.sessions.start(user.id);
  const tokens = await s.oauth.issuance.issue(storage.db, { clientId: client.clientId, userId: user.id, scopes }, 'fam_bench', null);
  const verifier = randomBytes(32).toString('base64url');
  return {
    storage,
    user,
    client: { clientId: client.clientId, clientSecret: client.clientSecret, redirectUri: client.redirectUris[0], verifier, challenge: createHash('sha256').update(verifier).digest('base64url') },
    cookie: `serika_session=${session.id}`,
    accessToken: tokens.access_token,
    scopes,
  };
}

/**
 * Budgets changed the way the dashboard changes them: each change announced in its transaction through the
 * invalidation outbox, which tells every server's feed (the servers keep what the feed vouches for).
 */
export function benchBudgets(storage) {
  return new BudgetsService(storage.db, Date.now, undefined, storage.dialect === 'postgres', null, null, new InvalidationFeed(storage));
}

/** Inserts `count` live refresh tokens (and their access tokens) straight into the database, in batches. */
export async function mintTokens(storage, seeded, count, familyPrefix = 'fam_r') {
  const values = [];
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    for (const kind of ['refresh', 'access']) {
      const t = mint(kind);
      values.push({ value: t.value, row: { token_hash: t.hash, kind, client_id: seeded.client.clientId, user_id: seeded.user.id, scopes: seeded.scopes.join(' '), family_id: `${familyPrefix}${i}`, code_hash: null, created_at: now, expires_at: now + 86_400_000, revoked_at: null, consumed_at: null } });
    }
  }
  for (let i = 0; i < values.length; i += 400) {
    await storage.db.insertInto('oauth_tokens').values(values.slice(i, i + 400).map((v) => v.row)).execute();
  }
  // The setup's writes copied into the database file before anything is measured: SQLite checkpoints on a thread
  // of its own, which would otherwise still be copying a million tokens' pages during the next run.
  if (storage.dialect === 'sqlite') await sql`pragma wal_checkpoint(TRUNCATE)`.execute(storage.db);
  return values.filter((v) => v.row.kind === 'refresh').map((v) => v.value);
}

export function startSerika(databaseUrl, upstreamUrl, workers = 1, env = {}, nodeArgs = []) {
  return startChild([...nodeArgs, 'bin/serika.js', 'serve', ...(workers > 1 ? ['--workers', String(workers)] : [])], {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TOKEN: '0',
    RATE_LIMIT_LOGIN: '0',
    AUTH_CODE_TTL: '3600',
    UPSTREAM_BASE_URL: upstreamUrl,
    REDIS_URL: '',
    METRICS_TOKEN: '',
    SHUTDOWN_DRAIN: '0',
    ...env,
  }, /^Serika listening on (\S+)$/m);
}

/** Codes minted through the real authorize endpoint (signed-in session, stored grant): setup, not measured. */
export async function mintCodes(api, seeded, count, extra = {}) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: seeded.client.clientId,
    redirect_uri: seeded.client.redirectUri,
    scope: 'profile generations',
    state: 'bench',
    code_challenge: seeded.client.challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  const url = `${api}/oauth/authorize?${query}`;
  const codes = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next++ < count) {
        const response = await request(url, { headers: { cookie: seeded.cookie } });
        await response.body.dump();
        const code = new URL(response.headers.location).searchParams.get('code');
        if (!code) throw new Error(`authorize answered ${response.statusCode}`);
        codes.push(code);
      }
    }),
  );
  return codes;
}

/** RFC 8693 (SPEC §15): the body that exchanges the seeded access token for a sub-agent token of the seeded client. */
export function exchangeBody(seeded, agentName) {
  return new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: seeded.accessToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'generations',
    agent_name: agentName,
    client_id: seeded.client.clientId,
    client_secret: seeded.client.clientSecret,
  }).toString();
}

/** A sub-agent token exchanged for the seeded access token (setup, not measured). */
export async function exchangeAgentToken(api, seeded, agentName) {
  const response = await fetch(`${api}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: exchangeBody(seeded, agentName) });
  if (!response.ok) throw new Error(`exchange: ${response.status} ${await response.text()}`);
  return (await response.json()).access_token;
}

export function writeBodies(name, lines) {
  const file = join(BENCH_DIR, `${name}-${randomBytes(3).toString('hex')}.txt`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
