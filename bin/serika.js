#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json), so the thread pool is sized before the first
// ES module loads. The compiled CLI lives in dist/ (built by `npm install`
// through the prepare script).
require('./thread-pool.js').sizeThreadPool();
require('./v8-flags.js').setV8Flags();

import('../dist/cli/main.js').then(({ main }) => main(process.argv));
