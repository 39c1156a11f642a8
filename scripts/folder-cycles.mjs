#!/usr/bin/env node
// ARCHITECTURE.md: the top-level folders of src/ form layers, never a circle.
// Lists imports between them (files at src/ root are the composition root and
// are left out), prints every cycle's folders, then "cycles: N"; exit 1 on any.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] || '.');
const src = path.join(root, 'src');
const files = [];
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !/\.d\.ts$/.test(e.name)) files.push(p);
  }
})(src);

const folderOf = (file) => {
  const rel = path.relative(src, file).split(path.sep);
  return rel.length > 1 ? rel[0] : null;
};
const edges = new Map();
for (const f of files) {
  const from = folderOf(f);
  if (!from) continue;
  const text = fs.readFileSync(f, 'utf8');
  for (const m of text.matchAll(/(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
    const spec = m[1] || m[2];
    const to = folderOf(path.resolve(path.dirname(f), spec));
    if (!to || to === from) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from).add(to);
  }
}
// Strongly connected components (Tarjan).
let index = 0;
const idx = new Map(), low = new Map(), stack = [], on = new Set(), sccs = [];
const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])]);
function strong(v) {
  idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
  for (const w of edges.get(v) || []) {
    if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const c = [];
    let w;
    do { w = stack.pop(); on.delete(w); c.push(w); } while (w !== v);
    if (c.length > 1) sccs.push(c);
  }
}
for (const v of nodes) if (!idx.has(v)) strong(v);
for (const c of sccs) console.log(`cycle among: ${c.sort().join(', ')}`);
console.log(`cycles: ${sccs.length}`);
process.exit(sccs.length ? 1 : 0);
