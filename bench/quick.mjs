// The development loop's benchmark: a few scenarios against one Serika (or an
// A/B pair differing only in environment variables, measured alternately on
// one database), medians of --runs, with the server's CPU per request.
//   node bench/quick.mjs [--pg] [--prof] [--node-args='--log-deopt --logfile=/tmp/v8.log'] [--runs 3] [--duration 5] [--ab 'TOKEN_CACHE=0'] userinfo redeem …
// Scenarios: hello (bare Fastify), proxy (its undici proxy), chat-direct and stream-direct (the upstream itself), userinfo, introspection, redeem, redeem-basic, redeem-oidc, refresh, chat, responses, budgeted, stream, mcp;
// exchange (RFC 8693: a sub-agent token for the seeded access token; printed ÷ refresh when both ran), chat-agent (chat
// with a sub-agent token; printed ÷ chat when both ran);
// peer-oidc, peer-redeem, peer-basic, peer-refresh, peer-introspection, peer-userinfo: node-oidc-provider's redemption
// with an ID token (issue 13) or without (client_secret_post, _basic), rotation, introspection and userinfo, measured in
// turn with Serika's; durable-oidc, durable-redeem, … the same against node-oidc-provider on a durable store of the
// dialect measured (issue 39: its own SQLite file, or its own schema with --pg).
import { parseArgs } from 'node:util';
import { measure, median, startChild } from './lib.mjs';
import { benchBudgets, exchangeAgentToken, exchangeBody, freshDatabase, mintCodes, mintTokens, seed, startSerika, writeBodies } from './serika.mjs';
import { peerEntries, startDurablePeer, startMemoryPeer } from './peers.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { pg: { type: 'boolean' }, minter: { type: 'boolean' }, runs: { type: 'string', default: '3' }, duration: { type: 'string', default: '5' }, ab: { type: 'string' }, 'node-args': { type: 'string' }, codes: { type: 'string', default: '5000' }, prof: { type: 'boolean' } },
});
const RUNS = Number(values.runs);
const base = { duration: Number(values.duration), connections: 32 };
const PER_RUN = Number(values.codes);
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const chat = (stream) => JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello.' }], ...(stream ? { stream: true } : {}) });
const envOf = (text) => Object.fromEntries((text ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

const upstream = await startChild(['bench/upstream.mjs']);
const db = await freshDatabase(values.pg ? 'postgres' : 'sqlite', process.env.TEST_DATABASE_URL_PG ?? 'postgres://postgres@127.0.0.1:5432/test');
const seeded = await seed(db.url);
// --prof: server A writes a CPU profile to test-results/profiles (summarise with bench/profile.mjs).
// --node-args: Node.js or V8 flags for server A (--log-deopt --logfile=…, say).
const nodeArgsA = [...(values.prof ? ['--cpu-prof', '--cpu-prof-dir=test-results/profiles'] : []), ...(values['node-args']?.split(/\s+/).filter(Boolean) ?? [])];
const variants = [{ label: 'A', env: {}, nodeArgs: nodeArgsA }, ...(values.ab ? [{ label: `B (${values.ab})`, env: envOf(values.ab) }] : [])];
for (const v of variants) v.server = await startSerika(db.url, upstream.info.url, 1, v.env, v.nodeArgs);
// With --prof (or --minter), codes are minted through a server of their own, so the profile (or the CPU figure) holds only the measured requests.
const minter = values.prof || values.minter ? await startSerika(db.url, upstream.info.url, 1) : null;
const hello = positionals.some((p) => p === 'hello' || p === 'proxy') ? await startChild(['bench/ceiling.mjs', upstream.info.url]) : null;
// Each peer scenario: its entry in bench/peers.mjs and the Serika scenario it is compared with.
const PEER_KINDS = { oidc: ['redeemOidc', 'redeem-oidc'], redeem: ['redeemPost', 'redeem'], basic: ['redeemBasic', 'redeem-basic'], refresh: ['refresh', 'refresh'], introspection: ['introspection', 'introspection'], userinfo: ['userinfo', 'userinfo'] };
const PEER_SCENARIOS = Object.fromEntries(['peer', 'durable'].flatMap((which) => Object.entries(PEER_KINDS).map(([kind, pair]) => [`${which}-${kind}`, [which, ...pair]])));
const peerWanted = (which) => positionals.some((p) => PEER_SCENARIOS[p]?.[0] === which);
const peerOptions = { base, perRun: PER_RUN };
const peer = peerWanted('peer') ? await startMemoryPeer(PER_RUN * RUNS) : null;
const durable = peerWanted('durable') ? await startDurablePeer(values.pg ? 'postgres' : 'sqlite', process.env.TEST_DATABASE_URL_PG ?? 'postgres://postgres@127.0.0.1:5432/test', PER_RUN * RUNS) : null;
const peers = { peer: peer && peerEntries(peer, 'peer', 'peer', peerOptions), durable: durable && peerEntries(durable, 'durable', 'durable peer', peerOptions) };
const { client } = seeded;
const bearer = { authorization: `Bearer ${seeded.accessToken}` };
const basic = { authorization: 'Basic ' + Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64') };
const redeemBodies = async (api, extra, withSecret = true) => {
  const codes = await mintCodes(minter ? `${minter.info.url}/api/openai/v1` : api, seeded, PER_RUN, extra);
  // client_secret_post names the client in the body; client_secret_basic (redeem-basic) in the header only, as bench/run.mjs does.
  const secret = withSecret ? { client_id: client.clientId, client_secret: client.clientSecret } : {};
  return writeBodies('q', codes.map((code) => new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: client.verifier, ...secret }).toString()));
};
/** One sub-agent token per server, exchanged before its first run. */
const agentTokens = new Map();
const agentToken = async (api) => {
  if (!agentTokens.has(api)) agentTokens.set(api, await exchangeAgentToken(api, seeded, 'bench-chat'));
  return agentTokens.get(api);
};
const scenarios = {
  userinfo: (api) => ({ ...base, url: `${api}/oauth/userinfo`, headers: bearer }),
  introspection: (api) => ({ ...base, url: `${api}/oauth/introspect`, method: 'POST', headers: { ...FORM, ...basic }, body: `token=${seeded.accessToken}` }),
  redeem: async (api) => ({ ...base, url: `${api}/oauth/token`, method: 'POST', headers: FORM, bodiesFile: await redeemBodies(api), amount: PER_RUN }),
  'redeem-basic': async (api) => ({ ...base, url: `${api}/oauth/token`, method: 'POST', headers: { ...FORM, ...basic }, bodiesFile: await redeemBodies(api, undefined, false), amount: PER_RUN }),
  'redeem-oidc': async (api) => ({ ...base, url: `${api}/oauth/token`, method: 'POST', headers: FORM, bodiesFile: await redeemBodies(api, { scope: 'openid profile', nonce: 'n' }), amount: PER_RUN }),
  refresh: async (api, run) => {
    const tokens = await mintTokens(seeded.storage, seeded, PER_RUN, `fam_q${run}_${Math.random()}_`);
    const file = writeBodies('r', tokens.map((t) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t, client_id: client.clientId, client_secret: client.clientSecret }).toString()));
    return { ...base, url: `${api}/oauth/token`, method: 'POST', headers: FORM, bodiesFile: file, amount: PER_RUN };
  },
  chat: (api) => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: chat(false) }),
  // The same request every time: an exchange does not use its subject token up.
  exchange: (api) => ({ ...base, url: `${api}/oauth/token`, method: 'POST', headers: FORM, body: exchangeBody(seeded, 'bench-agent') }),
  'chat-agent': async (api) => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, authorization: `Bearer ${await agentToken(api)}` }, body: chat(false) }),
  stream: (api) => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: chat(true) }),
  responses: (api) => ({ ...base, url: `${api}/oauth/responses`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: JSON.stringify({ model: 'bench', input: 'Say hello.' }) }),
  budgeted: (api) => ({ ...base, url: `${api}/oauth/chat/completions`, method: 'POST', headers: { ...JSON_TYPE, ...bearer }, body: chat(false) }),
  mcp: (api) => ({
    ...base,
    url: api.replace('/api/openai/v1', '/mcp'),
    method: 'POST',
    headers: { ...JSON_TYPE, ...bearer, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  }),
};
// What Serika's scenarios are compared with: the bare Fastify ceiling, its undici proxy, and the upstream called directly.
const OTHERS = {
  hello: () => ['bare Fastify GET /hello', hello.child.pid, () => ({ ...base, url: `${hello.info.url}/hello` })],
  proxy: () => ['bare Fastify + undici proxy', hello.child.pid, () => ({ ...base, url: `${hello.info.url}/proxy/chat/completions`, method: 'POST', headers: JSON_TYPE, body: chat(false) })],
  'chat-direct': () => ['chat completions, direct', upstream.child.pid, () => ({ ...base, url: `${upstream.info.url}/chat/completions`, method: 'POST', headers: JSON_TYPE, body: chat(false) })],
  'stream-direct': () => ['chat completions, streamed, direct', upstream.child.pid, () => ({ ...base, url: `${upstream.info.url}/chat/completions`, method: 'POST', headers: JSON_TYPE, body: chat(true) })],
};
const budgets = benchBudgets(seeded.storage);
/** Failed requests and non-2xx answers of some runs, flagged: a run that answers errors fast is no measure. */
const errorsOf = (rows) => {
  const errors = rows.reduce((n, r) => n + r.errors, 0);
  return errors ? `  ERRORS ${errors}` : '';
};
/** Server A's median req/s per scenario, for the ratios printed at the end. */
const medianA = new Map();
try {
  for (const name of positionals) {
    if (OTHERS[name]) {
      const [title, pid, prepare] = OTHERS[name]();
      const row = await measure(title, pid, RUNS, prepare);
      process.stdout.write(`    CPU ${row.cpuMsPerRequest.toFixed(3)} ms/req\n`);
      continue;
    }
    if (PEER_SCENARIOS[name]) {
      const [which, key, own] = PEER_SCENARIOS[name];
      const entry = peers[which][key];
      const peerRows = [];
      const ownRows = [];
      for (let run = 0; run < RUNS; run++) {
        peerRows.push(await measure(`${which} ${own} (run ${run + 1})`, entry.pid, 1, () => entry.prepare(run), true));
        const server = variants[0].server;
        ownRows.push(await measure(`serika ${own} (run ${run + 1})`, server.child.pid, 1, () => scenarios[own](`${server.info.url}/api/openai/v1`, run), true));
      }
      const rps = (rows) => median(rows.map((r) => r.rps));
      const cpu = (rows) => median(rows.map((r) => r.cpuMsPerRequest));
      const each = (rows) => rows.map((r) => `${r.rps.toFixed(0)}/${r.cpuMsPerRequest.toFixed(3)}`).join(' ');
      process.stdout.write(`  runs (req/s / CPU ms): serika ${each(ownRows)}${errorsOf(ownRows)}; ${which} ${each(peerRows)}${errorsOf(peerRows)}\n`);
      process.stdout.write(`= ${own} serika ÷ ${which}: ${(rps(ownRows) / rps(peerRows)).toFixed(2)} (${rps(ownRows).toFixed(0)} / ${rps(peerRows).toFixed(0)} req/s), CPU ${(cpu(ownRows) / cpu(peerRows)).toFixed(2)} (${cpu(ownRows).toFixed(3)} / ${cpu(peerRows).toFixed(3)} ms/req)\n`);
      continue;
    }
    if (!scenarios[name]) throw new Error(`unknown scenario ${name}`);
    if (name === 'budgeted') await budgets.set(seeded.user.id, client.clientId, { tokens: 1e12, images: null, period: 'month' });
    // A and B alternate run by run, so a noisy minute hits both alike.
    const results = new Map(variants.map((v) => [v, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const v of variants) {
        const api = `${v.server.info.url}/api/openai/v1`;
        results.get(v).push(await measure(`${name} ${v.label} (run ${run + 1})`, v.server.child.pid, 1, () => scenarios[name](api, run), true));
      }
    }
    medianA.set(name, median(results.get(variants[0]).map((r) => r.rps)));
    for (const v of variants) {
      const rows = results.get(v);
      process.stdout.write(`= ${name} ${v.label}: median ${median(rows.map((r) => r.rps)).toFixed(0)} req/s, CPU ${median(rows.map((r) => r.cpuMsPerRequest)).toFixed(3)} ms/req, p99 ${median(rows.map((r) => r.p99)).toFixed(1)} ms${errorsOf(rows)}\n`);
    }
    if (name === 'budgeted') await budgets.set(seeded.user.id, client.clientId, null);
  }
  // Issue 38's targets: an exchange ≥ 1.0 × a refresh; a sub-agent's chat within noise of its parent's.
  for (const [mine, theirs] of [['exchange', 'refresh'], ['chat-agent', 'chat']]) {
    if (medianA.has(mine) && medianA.has(theirs)) process.stdout.write(`= ${mine} ÷ ${theirs}: ${(medianA.get(mine) / medianA.get(theirs)).toFixed(2)}\n`);
  }
} finally {
  for (const v of variants) await v.server.stop();
  await hello?.stop();
  await peer?.stop();
  await durable?.stop();
  await minter?.stop();
  await upstream.stop();
  await seeded.storage.close();
  await db.drop();
}
