// npm run bench: the ceiling (bare Fastify), Serika on SQLite and PostgreSQL,
// and the peer (node-oidc-provider), measured in one run from a separate load
// process. Prints a table and the targets, and writes docs/BENCHMARKS.md.
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { load, measure, measureAlternating, procStats, startChild } from './lib.mjs';
import { benchBudgets, exchangeAgentToken, exchangeBody, freshDatabase, mintCodes, mintTokens, seed, startSerika, writeBodies } from './serika.mjs';
import { eventsBench } from './events.mjs';
import { ADMIN_TARGET_MS, adminLists } from './admin-lists.mjs';
import { ID_TOKEN_REDEMPTION, peerEntries, startDurablePeer, startMemoryPeer } from './peers.mjs';

const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PER_RUN = Number(process.env.BENCH_CODES ?? 10000);
const PG_URL = process.env.BENCH_DATABASE_URL_PG ?? process.env.TEST_DATABASE_URL_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const SKIP_MILLION = process.env.BENCH_SKIP_MILLION === '1';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const ONLY = process.env.BENCH_ONLY?.split(',');
const want = (section) => !ONLY || ONLY.includes(section);
const rows = [];
// SPEC §7 / issue 13: the same alg (RS256) on both sides.
const BUDGETED_CHAT = 'chat completions with a budget';
const MCP_WHOAMI = 'MCP tools/call whoami (stateless, bearer)';
const PROXY_CEILING = 'bare Fastify + undici proxy: chat completions';
const TOKEN_EXCHANGE = 'token exchange (a sub-agent token, RFC 8693)';
const AGENT_CHAT = 'chat completions with a sub-agent token';
// bench/load.mjs's generator (wrk unless BENCH_LOADGEN=autocannon), named in the report.
const LOADGEN = process.env.BENCH_LOADGEN === 'autocannon' ? `autocannon ${JSON.parse(readFileSync('package-lock.json', 'utf8')).packages['node_modules/autocannon']?.version ?? ''}` : 'wrk (Debian\'s)';
const SOAK_MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 10);
const base = { duration: DURATION, connections: CONNECTIONS };
const chatBody = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello.' }] });
const streamBody = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello.' }], stream: true });
const responsesBody = JSON.stringify({ model: 'bench', input: 'Say hello.' });

/** Whole authorize → token flows, one after another on each connection (bench/load.mjs's 'flow'). */
function flowScenario(api, seeded) {
  const { client } = seeded;
  const query = new URLSearchParams({ response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: 'profile', state: 's', code_challenge: client.challenge, code_challenge_method: 'S256' });
  return { kind: 'flow', flow: { authorizeUrl: `${api}/oauth/authorize?${query}`, cookie: seeded.cookie, tokenUrl: `${api}/oauth/token`, client } };
}

function section(title) {
  process.stdout.write(`\n${title}\n`);
}

/**
 * Serika on one dialect, each scenario whose ratio is a target measured in
 * turn, run by run, with what it is compared with: the bare Fastify ceiling,
 * node-oidc-provider (a fresh one per section, its codes minted beforehand)
 * and the upstream called directly. Those rows are grouped 'ceiling', 'peer'
 * and 'direct' beside SQLite, and the same with " (beside PostgreSQL)".
 */
async function serika(dialect, upstream) {
  section(`Serika on ${dialect === 'sqlite' ? 'SQLite (WAL, synchronous=NORMAL: a commit syncs only the header of a WAL it starts again, the checkpoint thread syncs the WAL before copying it)' : 'PostgreSQL'}, in turn with the ceiling, the peer and the direct upstream`);
  const db = await freshDatabase(dialect, PG_URL);
  const seeded = await seed(db.url);
  const server = await startSerika(db.url, upstream.info.url);
  const ceilingServer = await startChild(['bench/ceiling.mjs', upstream.info.url]);
  const peerServer = await startMemoryPeer(PER_RUN * RUNS);
  // Issue 39: the peer on the same durable store as Serika (its own SQLite file, or its own PostgreSQL schema).
  const durablePeerServer = await startDurablePeer(dialect, PG_URL, PER_RUN * RUNS);
  const beside = dialect === 'postgres' ? ' (beside PostgreSQL)' : '';
  const ceilingEntry = (name, prepare) => ({ name, group: `ceiling${beside}`, pid: ceilingServer.child.pid, prepare, shownAs: `  ceiling: ${name}` });
  const directEntry = (name, prepare) => ({ name, group: `direct${beside}`, pid: upstream.child.pid, prepare, shownAs: `  direct: ${name}` });
  const peerEntry = peerEntries(peerServer, `peer${beside}`, 'peer', { base, perRun: PER_RUN });
  const durablePeer = peerEntries(durablePeerServer, `durable peer${beside}`, 'durable peer', { base, perRun: PER_RUN });
  const ceilingUrl = ceilingServer.info.url;
  const api = `${server.info.url}/api/openai/v1`;
  const pid = server.child.pid;
  const bearer = { authorization: `Bearer ${seeded.accessToken}` };
  const basic = { authorization: 'Basic ' + Buffer.from(`${seeded.client.clientId}:${seeded.client.clientSecret}`).toString('base64') };
  const { client } = seeded;
  const group = `serika-${dialect}`;
  const add = async (name, prepare) => rows.push({ group, dialect, ...(await measure(name, pid, RUNS, prepare)) });
  // Serika's entries, then its partners'.
  const own = (name, prepare, extra = {}) => ({ name, group, pid, prepare, ...extra });
  const addAlternating = async (entries) => {
    const measured = await measureAlternating(entries, RUNS);
    measured.forEach((row, i) => rows.push({ group: entries[i].group, dialect, ...row }));
  };

  // A run's worth of fresh codes (minted through the authorize endpoint, not measured), redeemed once each.
  const redemption = async (file, auth, extra) => {
    const codes = await mintCodes(api, seeded, PER_RUN, extra);
    const secret = auth === 'post' ? { client_id: client.clientId, client_secret: client.clientSecret } : {};
    const bodies = codes.map((code) => new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: client.verifier, ...secret }).toString());
    return { ...base, url: `${api}/oauth/token`, method: 'POST', headers: auth === 'post' ? FORM : { ...FORM, ...basic }, bodiesFile: writeBodies(file, bodies), amount: PER_RUN };
  };

  await addAlternating([
    own('userinfo', () => ({ ...base, url: `${api}/oauth/userinfo`, headers: bearer })),
    own(MCP_WHOAMI, () => ({
      ...base,
      url: `${server.info.url}/mcp`,
      method: 'POST',
      headers: { ...JSON_TYPE, ...bearer, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
    })),
    ceilingEntry('bare Fastify GET /hello', () => ({ ...base, url: `${ceilingUrl}/hello` })),
    peerEntry.userinfo,
    durablePeer.userinfo,
  ]);
  await addAlternating([
    own('introspection (Basic)', () => ({ ...base, url: `${api}/oauth/introspect`, method: 'POST', headers: { ...FORM, ...basic }, body: `token=${seeded.accessToken}` })),
    peerEntry.introspection,
    durablePeer.introspection,
  ]);
  // The two ways of authenticating in one rotation: a redemption slows as the runs before it grow the database
  // (60,000 redemptions in, basic read 1.33 × the peer where post read 1.67), so each gets runs early and late alike.
  await addAlternating([
    own('code + PKCE redemption (client_secret_post)', () => redemption('redeem-post', 'post')),
    peerEntry.redeemPost,
    durablePeer.redeemPost,
    own('code + PKCE redemption (client_secret_basic)', () => redemption('redeem-basic', 'basic')),
    peerEntry.redeemBasic,
    durablePeer.redeemBasic,
  ]);
  await addAlternating([
    own(ID_TOKEN_REDEMPTION, () => redemption('redeem-oidc', 'post', { scope: 'openid profile', nonce: 'bench-nonce' })),
    peerEntry.redeemOidc,
    durablePeer.redeemOidc,
  ]);
  await addAlternating([
    own('refresh (rotation)', async (run) => {
      const tokens = await mintTokens(seeded.storage, seeded, PER_RUN, `fam_r${run}_`);
      const file = writeBodies('refresh', tokens.map((t) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t, client_id: client.clientId, client_secret: client.clientSecret }).toString()));
      return { ...base, url: `${api}/oauth/token`, method: 'POST', headers: FORM, bodiesFile: file, amount: PER_RUN };
    }),
    peerEntry.refresh,
    durablePeer.refresh,
    // Issue 38: a sub-agent token for the seeded access token (RFC 8693), in turn with the rotation.
    own(TOKEN_EXCHANGE, () => ({ ...base, url: `${api}/oauth/token`, method: 'POST', headers: FORM, body: exchangeBody(seeded, 'bench-agent') })),
  ]);
  await add('authorize → token, whole flows', () => ({ ...base, ...flowScenario(api, seeded) }));
  // SPEC §10: the same call under a spending limit it never reaches (reserve + settle on every call), in turn with
  // the call without one. The limit is set and removed through the database, as the dashboard does (next call obeys).
  const budgets = benchBudgets(seeded.storage);
  const chat = () => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: chatBody });
  const agentBearer = { authorization: `Bearer ${await exchangeAgentToken(api, seeded, 'bench-chat')}` };
  await addAlternating([
    own('chat completions', chat),
    // Issue 38: the same call with a sub-agent token of the token above (no cap of its own: its spending is counted).
    own(AGENT_CHAT, () => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...agentBearer }, body: chatBody })),
    // Issue 37: the Responses API on the same path, plus the owner row of each response it makes.
    own('responses', () => ({ ...base, url: `${api}/oauth/responses`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: responsesBody })),
    own(BUDGETED_CHAT, chat, {
      before: () => budgets.set(seeded.user.id, client.clientId, { tokens: 1_000_000_000_000, images: null, period: 'month' }),
      after: () => budgets.set(seeded.user.id, client.clientId, null),
    }),
    ceilingEntry(PROXY_CEILING, () => ({ ...base, url: `${ceilingUrl}/proxy/chat/completions`, method: 'POST', headers: JSON_TYPE, body: chatBody })),
    directEntry('chat completions, direct', () => ({ ...base, url: `${upstream.info.url}/chat/completions`, method: 'POST', headers: JSON_TYPE, body: chatBody })),
  ]);
  await addAlternating([
    own('chat completions, streamed', () => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: streamBody })),
    directEntry('chat completions, streamed, direct', () => ({ ...base, url: `${upstream.info.url}/chat/completions`, method: 'POST', headers: JSON_TYPE, body: streamBody })),
  ]);
  await addAlternating([
    own('streamed: time to first byte (1 at a time)', () => ({ kind: 'ttfb', samples: 400, url: `${api}/oauth/chat/completions`, headers: { ...JSON_TYPE, ...bearer }, body: streamBody })),
    directEntry('streamed: time to first byte, direct', () => ({ kind: 'ttfb', samples: 400, url: `${upstream.info.url}/chat/completions`, headers: JSON_TYPE, body: streamBody })),
  ]);
  await seeded.storage.close();
  await server.stop();
  await ceilingServer.stop();
  await peerServer.stop();
  await durablePeerServer.stop();
  await db.drop();
}

async function million(upstream) {
  section('Token table size: 1,000 vs 1,000,000 live tokens (SQLite)');
  const db = await freshDatabase('sqlite');
  const seeded = await seed(db.url);
  await mintTokens(seeded.storage, seeded, 500, 'fam_k');
  const measureBoth = async (label) => {
    const server = await startSerika(db.url, upstream);
    const api = `${server.info.url}/api/openai/v1`;
    const basic = 'Basic ' + Buffer.from(`${seeded.client.clientId}:${seeded.client.clientSecret}`).toString('base64');
    rows.push({ group: 'size', size: label, ...(await measure(`userinfo, ${label} tokens`, server.child.pid, RUNS, () => ({ ...base, url: `${api}/oauth/userinfo`, headers: { authorization: `Bearer ${seeded.accessToken}` } }))) });
    rows.push({ group: 'size', size: label, ...(await measure(`introspection, ${label} tokens`, server.child.pid, RUNS, () => ({ ...base, url: `${api}/oauth/introspect`, method: 'POST', headers: { ...FORM, authorization: basic }, body: `token=${seeded.accessToken}` }))) });
    await server.stop();
  };
  await measureBoth('1k');
  process.stdout.write('  inserting 999,000 more tokens…\n');
  await mintTokens(seeded.storage, seeded, 499_500, 'fam_m');
  await measureBoth('1M');
  await seeded.storage.close();
}

/**
 * Issue 8: 2 workers vs 1, and 2 instances on one PostgreSQL vs 1 (wrk leaves the cores to the servers). Issue 39:
 * chat with and without a spending limit on 2 instances, the 32 connections (16 each) all on one grant, in turn.
 */
async function scaleOut(upstream) {
  section('Scale-out on PostgreSQL (wrk)');
  const db = await freshDatabase('postgres', PG_URL);
  const seeded = await seed(db.url);
  const headers = { authorization: `Bearer ${seeded.accessToken}` };
  const path = '/api/openai/v1/oauth/userinfo';
  const scenario = (urls) => ({ kind: 'wrk', urls: urls.map((u) => u + path), headers, duration: DURATION, connections: CONNECTIONS });
  for (const workers of [1, 2]) {
    const server = await startSerika(db.url, upstream, workers);
    rows.push({ group: 'scale', ...(await measure(`userinfo, 1 instance, ${workers} worker${workers > 1 ? 's' : ''}`, server.child.pid, RUNS, () => scenario([server.info.url]))) });
    await server.stop();
  }
  const a = await startSerika(db.url, upstream);
  const b = await startSerika(db.url, upstream);
  rows.push({ group: 'scale', ...(await measure('userinfo, 2 instances, 1 worker each', a.child.pid, RUNS, () => scenario([a.info.url, b.info.url]))) });
  const budgets = benchBudgets(seeded.storage);
  const chatOn = () => ({ ...scenario([a.info.url, b.info.url]), urls: [a, b].map((s) => `${s.info.url}/api/openai/v1/oauth/chat/completions`), method: 'POST', headers: { ...JSON_TYPE, ...headers }, body: chatBody });
  const pairs = await measureAlternating(
    [
      { name: 'chat completions, 2 instances', pid: a.child.pid, prepare: chatOn },
      {
        name: `${BUDGETED_CHAT}, 2 instances`,
        pid: a.child.pid,
        prepare: chatOn,
        before: () => budgets.set(seeded.user.id, seeded.client.clientId, { tokens: 1_000_000_000_000, images: null, period: 'month' }),
        after: () => budgets.set(seeded.user.id, seeded.client.clientId, null),
      },
    ],
    RUNS,
  );
  rows.push(...pairs.map((row) => ({ group: 'scale', ...row })));
  await a.stop();
  await b.stop();
  await seeded.storage.close();
  await db.drop();
}

/**
 * Issue 18: RSS after a mixed soak (userinfo, whole authorize → token flows,
 * refresh chains and chat at once, from four load processes) stays within
 * 10 % of RSS after its first minute. RSS is read every 10 s.
 */
async function soak(upstream) {
  section(`Soak: ${SOAK_MINUTES} minutes of mixed load (SQLite)`);
  const db = await freshDatabase('sqlite');
  const seeded = await seed(db.url);
  const server = await startSerika(db.url, upstream);
  const api = `${server.info.url}/api/openai/v1`;
  const bearer = { authorization: `Bearer ${seeded.accessToken}` };
  const { client } = seeded;
  const seconds = SOAK_MINUTES * 60;
  const connections = 8;
  const chains = await mintTokens(seeded.storage, seeded, connections, 'fam_soak_');
  const samples = [];
  const started = Date.now();
  const timer = setInterval(() => samples.push({ t: (Date.now() - started) / 1000, ...procStats(server.child.pid) }), 10_000);
  const before = procStats(server.child.pid);
  const results = await Promise.all([
    load({ duration: seconds, connections, url: `${api}/oauth/userinfo`, headers: bearer }),
    load({ duration: seconds, connections, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: chatBody }),
    load({ duration: seconds, connections, ...flowScenario(api, seeded) }),
    load({ duration: seconds, kind: 'refresh-chain', chain: { tokenUrl: `${api}/oauth/token`, client, tokens: chains } }),
  ]);
  clearInterval(timer);
  const after = procStats(server.child.pid);
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const atMinute = samples.find((x) => x.t >= 60) ?? samples[0];
  const last = samples[samples.length - 1];
  soakResult = {
    minutes: SOAK_MINUTES,
    requests,
    errors: results.reduce((n, r) => n + r.errors + r.non2xx, 0),
    perKind: ['userinfo', 'chat completions', 'authorize → token flows', 'refresh chains'].map((name, i) => `${name} ${results[i].rps.toFixed(0)} req/s`),
    cpuMsPerRequest: ((after.cpu - before.cpu) * 1000) / requests,
    rssAtMinute: atMinute?.rssMb,
    rssAtEnd: last?.rssMb,
    rssMax: Math.max(...samples.map((x) => x.rssMb)),
    anonAtMinute: atMinute?.anonMb,
    anonAtEnd: last?.anonMb,
  };
  process.stdout.write(`  ${requests} requests (${soakResult.perKind.join(', ')}); RSS ${soakResult.rssAtMinute?.toFixed(0)} MiB at 1 min, ${soakResult.rssAtEnd?.toFixed(0)} MiB at the end, ${soakResult.rssMax.toFixed(0)} MiB at most\n`);
  await seeded.storage.close();
  await server.stop();
}
let soakResult = null;

/**
 * Issue 35: the admin console's lists and searches, its Audit filters and its Usage page at 1M users and 100k
 * clients (bench/admin-lists.mjs: the query functions called directly, not over HTTP), on each dialect.
 */
let adminResults = null;
const USAGE_PAGE = 'usage page';
async function adminSection() {
  section('Admin console at scale (SPEC §12, issue 35): the queries called directly, p50 and p99');
  adminResults = {};
  for (const dialect of ['sqlite', 'postgres']) {
    try {
      adminResults[dialect] = await adminLists({ dialect, pgUrl: PG_URL, runs: Number(process.env.BENCH_ADMIN_RUNS ?? 200), log: (line) => process.stdout.write(`${line}\n`) });
    } catch (error) {
      if (dialect === 'sqlite') throw error;
      process.stdout.write(`  PostgreSQL skipped: ${error.message.split('\n')[0]}\n`);
    }
  }
}

/** The slowest p99 of the admin cases of a dialect, the usage page's apart (or not). */
function adminWorst(dialect, usage) {
  const measured = (adminResults?.[dialect] ?? []).filter((r) => r.name.startsWith(USAGE_PAGE) === usage);
  return measured.length > 0 ? Math.max(...measured.map((r) => r.p99)) : NaN;
}

function adminMarkdown() {
  if (!adminResults?.sqlite) return '';
  const cell = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
  const pgRows = adminResults.postgres ?? [];
  const lines = adminResults.sqlite.map((r, i) => {
    const pg = pgRows[i];
    const met = r.p99 < ADMIN_TARGET_MS && (!pg || pg.p99 < ADMIN_TARGET_MS);
    return `| ${r.name} | ${r.rows} | ${cell(r.p50)} | ${cell(r.p99)} | ${cell(pg?.p50)} | ${cell(pg?.p99)} | ${r.calls}${pg ? ` / ${pg.calls}` : ''} | ${met ? 'yes' : '**no**'} |`;
  });
  return `
## Admin console at scale (issue 35)

Measured ${new Date().toISOString().slice(0, 16)} UTC (\`BENCH_ONLY=admin\` replaces this section alone). bench/admin-lists.mjs seeds
1,000,000 users, 100,000 clients, 1,000,000 grants (100,000 on each of the Apps list's first ten apps), 1,000,000
audit events and 1,000,000 usage records of the last 30 days with bulk INSERT … SELECT, then calls the functions the
console and /admin/api call (directly, not over HTTP), one at a time; target p99 < ${ADMIN_TARGET_MS} ms on both dialects.

| query | rows | SQLite p50 ms | SQLite p99 ms | PostgreSQL p50 ms | PostgreSQL p99 ms | calls | p99 < ${ADMIN_TARGET_MS} ms |
|---|---:|---:|---:|---:|---:|---:|---|
${lines.join('\n')}
`;
}

/**
 * The report. A run of the admin section alone (BENCH_ONLY=admin) replaces that section of docs/BENCHMARKS.md and
 * the notes copied below it, keeping every other section's figures: a full run takes 40 minutes.
 */
function writeReport(results) {
  const path = 'docs/BENCHMARKS.md';
  const notesAt = (text) => text.indexOf('\n## Current conclusions');
  if (ONLY?.every((name) => name === 'admin') && existsSync(path) && notesAt(readFileSync(path, 'utf8')) !== -1) {
    const old = readFileSync(path, 'utf8');
    const start = old.indexOf('\n## Admin console at scale');
    const end = notesAt(old);
    const before = start === -1 ? old.slice(0, end) : old.slice(0, start);
    writeFileSync(path, `${before}${adminMarkdown()}\n${readFileSync('bench/NOTES.md', 'utf8')}`);
    return;
  }
  writeFileSync(path, markdown(results));
}

const find = (group, name) => rows.find((r) => r.group === group && r.name === name);
const ratio = (a, b) => (a && b && b.rps ? a.rps / b.rps : NaN);

/** A's CPU per request ÷ B's: how much more CPU A spends on a request (beside every req/s ratio: steadier on a shared machine). */
const cpuRatio = (a, b) => (a && b && b.cpuMsPerRequest ? a.cpuMsPerRequest / b.cpuMsPerRequest : NaN);

/** The events section's delivery figures (bench/events.mjs), when it ran. */
let eventsResult = null;

function targets() {
  const t = [];
  const sq = (name) => find('serika-sqlite', name);
  const pg = (name) => find('serika-postgres', name);
  const peerRow = (name) => find('peer', name);
  const peerPg = (name) => find('peer (beside PostgreSQL)', name);
  const durable = (name) => find('durable peer', name);
  const durablePg = (name) => find('durable peer (beside PostgreSQL)', name);
  const ceilingPg = (name) => find('ceiling (beside PostgreSQL)', name);
  const directPg = (name) => find('direct (beside PostgreSQL)', name);
  /** A target on SQLite rows, with the same ratio on PostgreSQL reported beside it. */
  const vs = (issue, label, a, b, goal, pgA, pgB) => t.push({ issue, label, value: ratio(a, b), cpu: cpuRatio(a, b), goal, pg: pgA ? ratio(pgA, pgB) : NaN, pgCpu: pgA ? cpuRatio(pgA, pgB) : NaN });
  const hello = find('ceiling', 'bare Fastify GET /hello');
  vs(18, 'userinfo ≥ 0.5 × bare Fastify GET /hello', sq('userinfo'), hello, 0.5, pg('userinfo'), ceilingPg('bare Fastify GET /hello'));
  vs(18, 'PostgreSQL userinfo ≥ 0.8 × SQLite userinfo', pg('userinfo'), sq('userinfo'), 0.8);
  for (const name of ['code + PKCE redemption (client_secret_post)', 'code + PKCE redemption (client_secret_basic)', 'refresh (rotation)']) {
    vs(18, `${name} ≥ 1.5 × node-oidc-provider`, sq(name), peerRow(name), 1.5, pg(name), peerPg(name));
    vs(18, `PostgreSQL ${name} ≥ 1.0 × node-oidc-provider`, pg(name), peerPg(name), 1.0);
    if (sq(name)) t.push({ issue: 18, label: `${name} p99 < 20 ms at ${CONNECTIONS} connections`, value: sq(name).p99, goal: 20, kind: 'below', pg: pg(name)?.p99 ?? NaN });
  }
  vs(18, 'introspection (Basic) ≥ 3 × node-oidc-provider', sq('introspection (Basic)'), peerRow('introspection (Basic)'), 3, pg('introspection (Basic)'), peerPg('introspection (Basic)'));
  vs(18, `chat completions ≥ 0.5 × ${PROXY_CEILING}`, sq('chat completions'), find('ceiling', PROXY_CEILING), 0.5, pg('chat completions'), ceilingPg(PROXY_CEILING));
  vs(18, 'chat completions, streamed ≥ 0.95 × direct', sq('chat completions, streamed'), find('direct', 'chat completions, streamed, direct'), 0.95, pg('chat completions, streamed'), directPg('chat completions, streamed, direct'));
  if (eventsResult) {
    t.push({ issue: 36, label: `userinfo while ${eventsResult.events} webhooks are delivered ≥ 0.9 × without (median; runs ${eventsResult.ratios.map((r) => r.toFixed(2)).join(', ')})`, value: eventsResult.ratio, goal: 0.9 });
    t.push({ issue: 36, label: `webhook deliveries per second (${eventsResult.duringLoad} during the load, then ${eventsResult.afterLoadPerSecond.toFixed(0)}/s; outbox lag p50 ${(eventsResult.lagP50Ms / 1000).toFixed(1)} s, max ${(eventsResult.lagMaxMs / 1000).toFixed(1)} s)`, value: eventsResult.eventsPerSecond, goal: 'report', kind: 'report' });
  }
  if (soakResult) {
    t.push({ issue: 18, label: `RSS after a ${soakResult.minutes}-minute mixed soak ÷ RSS after its first minute ≤ 1.10`, value: soakResult.rssAtEnd / soakResult.rssAtMinute, goal: 1.1, kind: 'below' });
  }
  // Issue 39: against node-oidc-provider on the same durable store (SQLite beside SQLite, PostgreSQL beside PostgreSQL).
  vs(39, 'introspection (Basic) ≥ 3 × node-oidc-provider on SQLite', sq('introspection (Basic)'), durable('introspection (Basic)'), 3, pg('introspection (Basic)'), durablePg('introspection (Basic)'));
  for (const name of ['code + PKCE redemption (client_secret_post)', 'code + PKCE redemption (client_secret_basic)']) {
    vs(39, `${name} ≥ 5 × node-oidc-provider on SQLite`, sq(name), durable(name), 5, pg(name), durablePg(name));
  }
  for (const name of ['code + PKCE redemption (client_secret_post)', 'code + PKCE redemption (client_secret_basic)', 'refresh (rotation)']) {
    vs(39, `PostgreSQL ${name} ≥ 2 × node-oidc-provider on PostgreSQL`, pg(name), durablePg(name), 2);
  }
  for (const name of ['refresh (rotation)', ID_TOKEN_REDEMPTION, 'userinfo']) {
    t.push({ issue: 39, label: `${name} ÷ node-oidc-provider on SQLite`, value: ratio(sq(name), durable(name)), cpu: cpuRatio(sq(name), durable(name)), kind: 'report', pg: ratio(pg(name), durablePg(name)), pgCpu: cpuRatio(pg(name), durablePg(name)) });
  }
  // Issue 38: an exchange against a refresh, and a sub-agent's call against its parent's ("within noise": ≥ 0.9).
  vs(38, `${TOKEN_EXCHANGE} ≥ 1.0 × refresh (rotation)`, sq(TOKEN_EXCHANGE), sq('refresh (rotation)'), 1.0, pg(TOKEN_EXCHANGE), pg('refresh (rotation)'));
  vs(38, `${AGENT_CHAT} ≥ 0.9 × chat completions with its parent's`, sq(AGENT_CHAT), sq('chat completions'), 0.9, pg(AGENT_CHAT), pg('chat completions'));
  vs(13, `${ID_TOKEN_REDEMPTION} ≥ 1.0 × node-oidc-provider`, sq(ID_TOKEN_REDEMPTION), peerRow(ID_TOKEN_REDEMPTION), 1.0, pg(ID_TOKEN_REDEMPTION), peerPg(ID_TOKEN_REDEMPTION));
  vs(15, `${MCP_WHOAMI} ≥ 0.3 × Serika userinfo`, sq(MCP_WHOAMI), sq('userinfo'), 0.3, pg(MCP_WHOAMI), pg('userinfo'));
  vs(37, 'responses ≥ 0.9 × chat completions', sq('responses'), sq('chat completions'), 0.9, pg('responses'), pg('chat completions'));
  vs(17, `${BUDGETED_CHAT} ≥ 0.8 × chat completions`, sq(BUDGETED_CHAT), sq('chat completions'), 0.8, pg(BUDGETED_CHAT), pg('chat completions'));
  // Issue 39: PostgreSQL generation, and its budgets with every connection on one grant, on one instance and on two.
  vs(39, 'PostgreSQL chat completions ≥ 0.5 × SQLite chat completions', pg('chat completions'), sq('chat completions'), 0.5);
  vs(39, `PostgreSQL ${BUDGETED_CHAT} ≥ 0.8 × chat completions, ${CONNECTIONS} connections on one grant, 1 instance`, pg(BUDGETED_CHAT), pg('chat completions'), 0.8);
  vs(39, `PostgreSQL ${BUDGETED_CHAT} ≥ 0.8 × chat completions, ${CONNECTIONS} connections on one grant, 2 instances`, find('scale', `${BUDGETED_CHAT}, 2 instances`), find('scale', 'chat completions, 2 instances'), 0.8);
  for (const name of ['userinfo', 'introspection']) {
    const small = rows.find((r) => r.group === 'size' && r.size === '1k' && r.name.startsWith(name));
    const big = rows.find((r) => r.group === 'size' && r.size === '1M' && r.name.startsWith(name));
    if (small && big) vs(7, `${name} with 1M tokens ≥ 0.9 × with 1k`, big, small, 0.9);
  }
  const ttfb = sq('streamed: time to first byte (1 at a time)');
  const ttfbDirect = find('direct', 'streamed: time to first byte, direct');
  if (ttfb && ttfbDirect) t.push({ issue: 7, label: 'streaming adds ≤ 1 ms to median time to first byte (ms added)', value: ttfb.p50 - ttfbDirect.p50, goal: 1, kind: 'below' });
  const one = find('scale', 'userinfo, 1 instance, 1 worker');
  const two = find('scale', 'userinfo, 1 instance, 2 workers');
  const pair = find('scale', 'userinfo, 2 instances, 1 worker each');
  if (one && two) t.push({ issue: 8, label: '2 workers ÷ 1 worker, userinfo on PostgreSQL', value: ratio(two, one), cpu: cpuRatio(two, one), kind: 'report' });
  if (one && pair) t.push({ issue: 8, label: '2 instances ÷ 1 instance, userinfo on PostgreSQL', value: ratio(pair, one), cpu: cpuRatio(pair, one), kind: 'report' });
  if (adminResults?.sqlite) {
    t.push({ issue: 35, label: `admin lists, searches and Audit filters at 1M users, 100k clients: slowest p99 < ${ADMIN_TARGET_MS} ms`, value: adminWorst('sqlite', false), goal: ADMIN_TARGET_MS, kind: 'below', pg: adminWorst('postgres', false) });
    t.push({ issue: 35, label: `admin Usage page over 1M usage records of 30 days: p99 < ${ADMIN_TARGET_MS} ms`, value: adminWorst('sqlite', true), goal: ADMIN_TARGET_MS, kind: 'below', pg: adminWorst('postgres', true) });
  }
  return t.map((x) => ({
    ...x,
    goal: x.goal ?? '–',
    met: x.kind === 'report' ? 'report' : Number.isFinite(x.value) && (x.kind === 'below' ? x.value <= x.goal : x.value >= x.goal),
  }));
}

function markdown(results) {
  const cell = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '–');
  const table = [
    '| group | scenario | req/s (median of ' + RUNS + ') | p50 ms | p99 ms | errors | server CPU ms/req | server RSS MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.group} | ${r.name} | ${r.rps ? cell(r.rps) : '–'} | ${cell(r.p50, 2)} | ${cell(r.p99, 2)} | ${r.errors} | ${r.rps ? cell(r.cpuMsPerRequest, 3) : '–'} | ${cell(r.rssMb, 0)} |`),
  ];
  const goals = [
    '| issue | target (SQLite) | measured | CPU/req ratio | goal | met | PostgreSQL (CPU/req ratio) |',
    '|---|---|---:|---:|---:|---|---:|',
    ...results.map((t) => `| ${t.issue} | ${t.label} | ${cell(t.value, 2)} | ${cell(t.cpu, 2)} | ${t.goal} | ${t.met === 'report' ? '(figure)' : t.met ? 'yes' : '**no**'} | ${Number.isFinite(t.pg) ? `${cell(t.pg, 2)} (${cell(t.pgCpu, 2)})` : '–'} |`),
  ];
  const soakText = soakResult
    ? `\n## Soak\n\n${soakResult.minutes} minutes of mixed load on SQLite (${soakResult.perKind.join(', ')}; ${soakResult.requests} requests, ${soakResult.errors} errors, ${soakResult.cpuMsPerRequest.toFixed(3)} ms CPU per request): RSS ${cell(soakResult.rssAtMinute, 0)} MiB after the first minute, ${cell(soakResult.rssAtEnd, 0)} MiB at the end, ${cell(soakResult.rssMax, 0)} MiB at most; of it anonymous memory (heaps, no files) ${cell(soakResult.anonAtMinute, 0)} MiB after the first minute and ${cell(soakResult.anonAtEnd, 0)} MiB at the end.\n`
    : '';
  const versions = JSON.parse(readFileSync('package-lock.json', 'utf8')).packages;
  const v = (name) => versions[`node_modules/${name}`]?.version ?? '?';
  return `# Benchmarks

Generated by \`npm run bench\` on ${new Date().toISOString()}. Do not edit by hand: the figures are replaced on every run; the
notes below the tables are kept in bench/NOTES.md and copied in.

Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}.
Load: ${LOADGEN} in its own process (one thread; bench/wrk.lua gives each request its body), ${CONNECTIONS} connections,
${DURATION} s per run, ${RUNS} runs per scenario (the median run's latencies); whole authorize → token flows, the soak
and the time to first byte through undici; servers on 127.0.0.1 with rate limits off and LOG_LEVEL=warn. Scenarios compared
in a target are measured in turn, run by run (Serika, its partner, Serika, …), so a noisy minute falls on both: the
ceiling, the peers (a fresh node-oidc-provider per section: "peer" with an in-memory store, "durable peer" with its
adapter interface over one table in the section's own store, SQLite in WAL with synchronous=NORMAL or PostgreSQL with a pool
of 10, see bench/peer-store.mjs) and the direct upstream are measured beside each dialect. Redemption and
refresh runs use each code or refresh token once (${PER_RUN} per run; a run ends early when they are used up).
Versions: fastify ${v('fastify')}, kysely ${v('kysely')}, better-sqlite3 ${v('better-sqlite3')}, pg ${v('pg')},
oidc-provider ${v('oidc-provider')}; PostgreSQL on the same machine.

## Results

${table.join('\n')}

## Targets

"CPU/req ratio" is the first scenario's server CPU per request ÷ the second's (lower is better; steadier than req/s on this
shared machine). The PostgreSQL column is the same ratio with Serika on PostgreSQL.

${goals.join('\n')}
${soakText}${adminMarkdown()}
${readFileSync('bench/NOTES.md', 'utf8')}`;
}

const upstream = await startChild(['bench/upstream.mjs']);
try {
  if (want('sqlite')) await serika('sqlite', upstream);
  if (want('postgres')) {
    try {
      await serika('postgres', upstream);
    } catch (error) {
      process.stdout.write(`  PostgreSQL skipped: ${error.message.split('\n')[0]}\n`);
    }
  }
  if (want('million') && !SKIP_MILLION) await million(upstream.info.url);
  if (want('events')) {
    section(`Events to apps (SPEC §13): ${Number(process.env.BENCH_EVENTS ?? 10_000)} queued webhooks delivered to a receiver on loopback (SQLite)`);
    const measured = await eventsBench({ runs: RUNS, duration: DURATION, connections: CONNECTIONS, upstreamUrl: upstream.info.url });
    for (const row of measured.rows) rows.push({ group: 'events', dialect: 'sqlite', ...row });
    eventsResult = measured.delivery;
  }
  if (want('soak')) await soak(upstream.info.url);
  if (want('admin')) await adminSection();
  if (want('scale')) {
    try {
      await scaleOut(upstream.info.url);
    } catch (error) {
      process.stdout.write(`  scale-out skipped: ${error.message.split('\n')[0]}\n`);
    }
  }
} finally {
  await upstream.stop();
}
const results = targets();
section('Targets');
for (const t of results) {
  const cpu = Number.isFinite(t.cpu) ? `, CPU/req ratio ${t.cpu.toFixed(2)}` : '';
  const pgText = Number.isFinite(t.pg) ? `; PostgreSQL ${t.pg.toFixed(2)}` : '';
  process.stdout.write(`  [${t.met === 'report' ? 'report' : t.met ? 'met' : 'NOT MET'}] #${t.issue} ${t.label}: ${Number.isFinite(t.value) ? t.value.toFixed(2) : 'n/a'}${cpu} (goal ${t.goal})${pgText}\n`);
}
writeReport(results);
process.stdout.write('\nWrote docs/BENCHMARKS.md\n');
process.exit(0);
