#!/usr/bin/env bash
# Profiles Serika under userinfo and redemption load: writes .cpuprofile files to test-results/profiles/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results/profiles
node --input-type=module -e "
import { freshDatabase, seed, mintCodes } from './bench/serika.mjs';
import { startChild, load } from './bench/lib.mjs';
const db = await freshDatabase('sqlite');
const s = await seed(db.url);
const server = await startChild(['--cpu-prof', '--cpu-prof-dir=test-results/profiles', 'bin/serika.js', 'serve'], { PORT: '0', DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_TOKEN: '0', AUTH_CODE_TTL: '3600' }, /^Serika listening on (\S+)$/m);
const api = server.info.url + '/api/openai/v1';
const r1 = await load({ url: api + '/oauth/userinfo', headers: { authorization: 'Bearer ' + s.accessToken }, duration: 5, connections: 32 });
console.log('userinfo', Math.round(r1.rps));
const codes = await mintCodes(api, s, 8000);
const { writeBodies } = await import('./bench/serika.mjs');
const file = writeBodies('p', codes.map((code) => new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: s.client.redirectUri, code_verifier: s.client.verifier, client_id: s.client.clientId, client_secret: s.client.clientSecret }).toString()));
const r2 = await load({ url: api + '/oauth/token', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, bodiesFile: file, amount: 8000, duration: 10, connections: 32 });
console.log('redeem', Math.round(r2.rps), 'errors', r2.errors + r2.non2xx);
await s.storage.close();
server.child.kill('SIGINT');
await new Promise((r) => server.child.on('exit', r));
"
ls -t test-results/profiles/*.cpuprofile | head -1
