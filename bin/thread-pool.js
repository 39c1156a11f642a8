'use strict';
// libuv's thread pool runs Serika's ID-token signatures, password hashes and
// file reads. Its default of 4 threads oversubscribes a small machine: on 2
// cores, 4 signing threads, the event loop and the SQLite checkpoint thread
// take turns on each core. One thread per core (at least 2, so one long
// password hash never stalls a signature) measured +2-3 % on code redemption
// with an ID token (bench/NOTES.md). An operator's UV_THREADPOOL_SIZE wins.
//
// libuv reads the variable once, when the pool first starts, and Node's ESM
// loader starts it reading the first module: this file is CommonJS and runs
// before any ES module loads.
const { availableParallelism } = require('node:os');

function threadPoolSize(env, cores) {
  const set = env.UV_THREADPOOL_SIZE;
  if (set !== undefined && set !== '') return set;
  return String(Math.max(2, cores));
}

function sizeThreadPool(env = process.env) {
  env.UV_THREADPOOL_SIZE = threadPoolSize(env, availableParallelism());
}

module.exports = { threadPoolSize, sizeThreadPool };
