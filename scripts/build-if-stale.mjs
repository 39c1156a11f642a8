#!/usr/bin/env node
// `npm start` runs this first: it serves the dist/ that `npm install` built, and builds again only
// when a source (src/, the tsconfigs, package.json) is newer than dist/ — a start after an edit or a
// pull, not every start (tsc takes 15 s or more on a busy machine).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const ENTRY = 'dist/cli/main.js';

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

function tscPath() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return null;
  }
}

const built = existsSync(ENTRY) ? statSync(ENTRY).mtimeMs : -1;
const sources = Math.max(newest('src'), ...['tsconfig.json', 'tsconfig.build.json', 'package.json'].filter(existsSync).map(newest));
if (built >= sources) process.exit(0);
const tsc = tscPath();
if (!tsc) {
  if (built >= 0) process.exit(0); // a production install: dist/ is what was shipped
  console.error('serika: dist/ is missing and TypeScript is not installed: run `npm ci && npm run build` first');
  process.exit(1);
}
console.log(built < 0 ? 'serika: building dist/ (tsc)…' : 'serika: sources changed since the last build; rebuilding dist/ (tsc)…');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
