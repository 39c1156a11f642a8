#!/usr/bin/env node
// `npm install` / `npm ci` run this: build dist/ when TypeScript is installed (a development
// install), and keep the dist/ already built when it is not (`npm ci --omit=dev` on a machine
// that builds elsewhere or built before pruning). Without either, say what to do.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  tsc = null;
}
if (tsc) {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
} else if (existsSync('dist/cli/main.js')) {
  console.log('serika: TypeScript is not installed (production install); using the dist/ already built');
} else {
  console.error('serika: dist/ is missing and TypeScript is not installed: run `npm ci && npm run build` first, then `npm ci --omit=dev`');
  process.exit(1);
}
