'use strict';
// V8's allocation-site pretenuring watches which allocation sites' objects survive young-generation
// collections and, past a threshold, allocates that site's objects straight in the old generation. A
// request handler's objects die young; when a site they share with startup code is judged long-lived
// (a handful of early collections decides it, and the decision stays for the process's life), every
// request's objects land in the old generation, keep the young ones they point to alive, and each
// scavenge copies megabytes: the same server then spent 1.6-1.9 x the CPU per userinfo request, with
// a p99 four times higher, in about half of its starts (bench/NOTES.md, log entry `9243ce0`). Off, the
// young generation does what it is for. An operator who names the flag on Node's command line wins.
const v8 = require('node:v8');

const FLAG = 'allocation-site-pretenuring';

function pretenuringFlag(execArgv) {
  return execArgv.some((arg) => arg.replace(/_/g, '-').endsWith(FLAG)) ? null : `--no-${FLAG}`;
}

function setV8Flags(execArgv = process.execArgv) {
  const flag = pretenuringFlag(execArgv);
  if (flag) v8.setFlagsFromString(flag);
}

module.exports = { pretenuringFlag, setV8Flags };
