// Shared helpers of the benchmark: child processes, /proc readings, medians.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TICKS = 100; // USER_HZ on Linux

/**
 * Every child still running, so a benchmark that is stopped (Ctrl-C, `kill`, a timeout) stops its servers, upstream
 * and load generator too instead of leaving them serving (and polling their databases) after it.
 */
const running = new Set();
function track(child) {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) process.once(signal, () => process.exit(128 + number));

/** Starts a child that prints a ready line (`READY {json}` or "Serika listening on URL"). */
export function startChild(args, env = {}, ready = /^READY (.*)$/m) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let output = '';
    const onData = (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        child.stderr.resume();
        resolve({ child, info: match[1].startsWith('{') ? JSON.parse(match[1]) : { url: match[1] }, stop: () => stop(child) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => (output += c));
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${output}`)));
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/** CPU seconds and RSS of a process and its children (cluster workers), from /proc. */
export function procStats(pid) {
  let total = single(pid);
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const child of children) {
      const s = single(Number(child));
      total = { cpu: total.cpu + s.cpu, rssMb: total.rssMb + s.rssMb, anonMb: total.anonMb + s.anonMb };
    }
  } catch {
    /* no children file: a single process */
  }
  return total;
}

function single(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { cpu, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024 };
  } catch {
    return { cpu: 0, rssMb: 0, anonMb: 0 };
  }
}

/** Runs one load scenario in its own process (bench/load.mjs). */
export function load(scenario) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, ['bench/load.mjs', JSON.stringify(scenario)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`load exited ${code}`))));
  });
}

/** A latency for printing; a run whose output could not be read has none. */
const ms = (value) => (Number.isFinite(value) ? value.toFixed(2) : '–');

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
}

/**
 * Measures a scenario `runs` times against the server process `pid`:
 * median req/s, the median run's p50/p99, all errors and non-2xx, CPU per
 * request and the server's RSS afterwards. `prepare(run)` returns the scenario
 * for that run (fresh codes or refresh tokens, say).
 */
/** One load run with the server's CPU per request over it. */
async function measuredRun(pid, scenario) {
  const before = procStats(pid);
  const result = await load(scenario);
  const after = procStats(pid);
  return { ...result, cpuMsPerRequest: result.requests ? ((after.cpu - before.cpu) * 1000) / result.requests : 0, rssMb: after.rssMb };
}

/** A table row from several runs of one scenario: medians, and the p50/p99 of the median run. */
function summarize(name, results, quiet, shownAs = name) {
  const byRps = [...results].sort((a, b) => a.rps - b.rps);
  const mid = byRps[Math.floor(byRps.length / 2)];
  const row = {
    name,
    rps: median(results.map((r) => r.rps)),
    p50: mid.p50,
    p99: mid.p99,
    errors: results.reduce((n, r) => n + r.errors + r.non2xx, 0),
    cpuMsPerRequest: median(results.map((r) => r.cpuMsPerRequest)),
    rssMb: Math.max(...results.map((r) => r.rssMb)),
    requests: results.reduce((n, r) => n + r.requests, 0),
  };
  const flag = row.errors ? `  ERRORS ${row.errors}` : '';
  if (!quiet) process.stdout.write(`  ${shownAs.padEnd(44)} ${row.rps.toFixed(0).padStart(7)} req/s  p50 ${ms(row.p50)} ms  p99 ${ms(row.p99)} ms${flag}\n`);
  return row;
}

export async function measure(name, pid, runs, prepare, quiet = false) {
  const results = [];
  for (let run = 0; run < runs; run++) results.push(await measuredRun(pid, await prepare(run)));
  return summarize(name, results, quiet);
}

/**
 * Scenarios whose ratio is a target, measured run by run in turn (A, B, A,
 * B, …) rather than one after the other, so a noisy minute on this shared
 * machine falls on both alike. Each entry: { name, pid (the server whose CPU
 * is counted), prepare(run), before?(), after?(), shownAs? (its printed
 * label) } (before/after set up and undo what only that scenario needs).
 */
export async function measureAlternating(entries, runs) {
  const results = entries.map(() => []);
  for (let run = 0; run < runs; run++) {
    for (const [i, entry] of entries.entries()) {
      await entry.before?.();
      try {
        results[i].push(await measuredRun(entry.pid, await entry.prepare(run)));
      } finally {
        await entry.after?.();
      }
    }
  }
  return entries.map((entry, i) => summarize(entry.name, results[i], false, entry.shownAs));
}
