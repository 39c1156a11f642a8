// Summarises a V8 .cpuprofile: the functions with the most self time, and the
// share of time spent under each package. Usage: node bench/profile.mjs FILE [N]
import { readFileSync } from 'node:fs';

const profile = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const top = Number(process.argv[3] ?? 25);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map();
const byPackage = new Map();
for (const [id, time] of self) {
  const node = byId.get(id);
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\/.*?node_modules\//, '').replace(/^file:\/\/.*?\/(dist|bench)\//, '$1/');
  const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  const pkg = url.includes('node_modules/') ? url.split('node_modules/')[1].split('/').slice(0, url.split('node_modules/')[1].startsWith('@') ? 2 : 1).join('/') : url.includes('/dist/') ? 'serika (dist)' : url ? 'node internals' : functionName || '(native)';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time);
}
const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
console.log('Self time by package:');
for (const [k, t] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(t)}  ${k}`);
console.log(`\nTop ${top} functions by self time:`);
for (const [k, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${k}`);
