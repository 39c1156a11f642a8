#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json), so the thread pool is sized before the first
// ES module loads. The compiled CLI lives in dist/ (built by `npm install`
// through the prepare script).
require('./thread-pool.js').sizeThreadPool();
require('./v8-flags.js').setV8Flags();

// Not caught on purpose: a CLI that cannot load or fails unexpectedly should
// crash with Node's report of the unhandled rejection and exit status 1.
void import('../dist/cli/main.js').then(({ main }) => main(process.argv));
