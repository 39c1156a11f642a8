// The peers (node-oidc-provider, bench/peer.mjs) as the benchmarks start and
// measure them: one with an in-memory store, one on a durable store of the
// dialect Serika is measured on (issue 39), and the load scenarios of each.
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild } from './lib.mjs';
import { BENCH_DIR, freshDatabase, writeBodies } from './serika.mjs';

export const ID_TOKEN_REDEMPTION = 'code + PKCE redemption with ID token (RS256, client_secret_post)';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The in-memory peer with `count` codes and refresh tokens of each kind minted. */
export const startMemoryPeer = (count) => startChild(['bench/peer.mjs', String(count), BENCH_DIR]);

/** The durable peer: its own SQLite file, or its own PostgreSQL schema; `stop()` drops that too. */
export async function startDurablePeer(dialect, pgUrl, count) {
  const db = await freshDatabase(dialect, pgUrl);
  const server = await startChild(['bench/peer.mjs', String(count), mkdtempSync(join(BENCH_DIR, 'durable-peer-')), db.url]);
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await db.drop();
    },
  };
}

/**
 * node-oidc-provider's scenarios, one per Serika scenario it is compared with (its codes and tokens minted at its
 * start; run `run` gets the run-th slice of `perRun` of them). `base` is the duration and connections.
 */
export function peerEntries(server, group, label, { base, perRun }) {
  const { info } = server;
  const pid = server.child.pid;
  const split = (file) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const slice = (file, run, name) => writeBodies(name, split(file).slice(run * perRun, (run + 1) * perRun));
  const entry = (name, prepare) => ({ name, group, pid, prepare, shownAs: `  ${label}: ${name}` });
  return {
    userinfo: entry('userinfo', () => ({ ...base, url: info.userinfo, headers: { authorization: `Bearer ${info.accessToken}` } })),
    introspection: entry('introspection (Basic)', () => ({ ...base, url: info.introspection, method: 'POST', headers: { ...FORM, authorization: info.basicAuth }, body: `token=${info.accessToken}` })),
    redeemPost: entry('code + PKCE redemption (client_secret_post)', (run) => ({ ...base, url: info.token, method: 'POST', headers: FORM, bodiesFile: slice(info.files.redeemPost, run, 'peer-post'), amount: perRun })),
    redeemBasic: entry('code + PKCE redemption (client_secret_basic)', (run) => ({ ...base, url: info.token, method: 'POST', headers: { ...FORM, authorization: info.basicAuth }, bodiesFile: slice(info.files.redeemBasic, run, 'peer-basic'), amount: perRun })),
    redeemOidc: entry(ID_TOKEN_REDEMPTION, (run) => ({ ...base, url: info.token, method: 'POST', headers: FORM, bodiesFile: slice(info.files.redeemOidc, run, 'peer-oidc'), amount: perRun })),
    refresh: entry('refresh (rotation)', (run) => ({ ...base, url: info.token, method: 'POST', headers: { ...FORM, authorization: info.basicAuth }, bodiesFile: slice(info.files.refresh, run, 'peer-refresh'), amount: perRun })),
  };
}
