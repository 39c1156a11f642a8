// The load generator, run as its own process so it never shares a CPU budget
// with the server's event loop. Reads one scenario as JSON from argv[2] and
// prints one JSON result line.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';

const scenario = JSON.parse(process.argv[2]);

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runAutocannon() {
  const bodies = scenario.bodiesFile ? readFileSync(scenario.bodiesFile, 'utf8').split('\n').filter(Boolean) : null;
  let next = 0;
  // autocannon notices that `amount` is reached only on its one-second tick, so time the
  // run up to the last response ourselves.
  let lastResponse = 0;
  const started = performance.now();
  const result = await autocannon({
    url: scenario.url,
    method: scenario.method ?? 'GET',
    headers: scenario.headers ?? {},
    body: scenario.body,
    connections: scenario.connections ?? 32,
    duration: scenario.duration,
    amount: bodies ? Math.min(bodies.length, scenario.amount ?? Infinity) : undefined,
    requests: bodies
      ? [
          {
            setupRequest: (req) => {
              req.body = bodies[next++ % bodies.length];
              return req;
            },
            onResponse: () => {
              lastResponse = performance.now();
            },
          },
        ]
      : undefined,
  });
  const seconds = ((bodies && lastResponse ? lastResponse : performance.now()) - started) / 1000;
  return {
    requests: result.requests.total,
    // Over the time actually run (autocannon's own duration is in whole seconds): a run
    // that used up its codes early ends early.
    rps: result.requests.total / seconds,
    seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/** authorize → token, one whole flow per iteration, `connections` flows at a time. */
async function runFlow() {
  const { authorizeUrl, cookie, tokenUrl, client } = scenario.flow;
  const deadline = Date.now() + scenario.duration * 1000;
  const latencies = [];
  let errors = 0;
  let flows = 0;
  const started = Date.now();
  const worker = async () => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      try {
        const a = await request(authorizeUrl, { headers: { cookie } });
        await a.body.dump();
        const location = a.headers.location;
        const code = location && new URL(location).searchParams.get('code');
        if (a.statusCode !== 303 || !code) throw new Error(`authorize ${a.statusCode}`);
        const t = await request(tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: client.verifier, client_id: client.clientId, client_secret: client.clientSecret }).toString(),
        });
        await t.body.dump();
        if (t.statusCode !== 200) throw new Error(`token ${t.statusCode}`);
        flows++;
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: scenario.connections ?? 32 }, worker));
  const seconds = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { requests: flows, rps: flows / seconds, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, non2xx: 0 };
}

/** Refresh chains: each connection rotates its own refresh token, using the new one each time (a self-feeding soak load). */
async function runRefreshChain() {
  const { tokenUrl, client, tokens } = scenario.chain;
  const deadline = Date.now() + scenario.duration * 1000;
  const latencies = [];
  let errors = 0;
  let done = 0;
  const started = Date.now();
  const worker = async (i) => {
    let token = tokens[i];
    while (Date.now() < deadline && token) {
      const t0 = performance.now();
      try {
        const r = await request(tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: client.clientId, client_secret: client.clientSecret }).toString(),
        });
        const json = await r.body.json();
        if (r.statusCode !== 200) throw new Error(`refresh ${r.statusCode}`);
        token = json.refresh_token;
        done++;
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
        token = undefined;
      }
    }
  };
  await Promise.all(tokens.map((_, i) => worker(i)));
  const seconds = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { requests: done, rps: done / seconds, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, non2xx: 0 };
}

/** Time to the first byte of a streamed completion, one request at a time. */
async function runTtfb() {
  const samples = [];
  let errors = 0;
  for (let i = 0; i < scenario.samples; i++) {
    const t0 = performance.now();
    try {
      const response = await request(scenario.url, { method: 'POST', headers: scenario.headers, body: scenario.body });
      let first = true;
      for await (const _chunk of response.body) {
        if (first) {
          samples.push(performance.now() - t0);
          first = false;
        }
      }
      if (response.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
  }
  samples.sort((a, b) => a - b);
  return { requests: samples.length, rps: 0, seconds: 0, p50: percentile(samples, 50), p99: percentile(samples, 99), errors, non2xx: 0 };
}

const wrkMs = (text) => {
  const m = /([\d.]+)(us|ms|s)/.exec(text ?? '');
  return m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
};
/** What one wrk run printed: its answers, their rate, the latency percentiles, socket errors and non-2xx answers. */
function wrkSummary(out) {
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    // The latency distribution's own lines: "+/- Stdev" columns such as 76.99% end the same way.
    p50: wrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99: wrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    errors: /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).reduce((a, b) => a + Number(b), 0) ?? 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/** Runs wrk once; `onLine` sees each line it prints and may stop it (SIGINT: wrk then prints its summary at once). */
async function spawnWrk(args, env, onLine = () => {}) {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { env: { ...process.env, ...env } });
    let out = '';
    let seen = 0;
    child.stdout.on('data', (c) => {
      out += c;
      const lines = out.split('\n');
      for (; seen < lines.length - 1; seen++) onLine(lines[seen], () => child.kill('SIGINT'));
    });
    child.stderr.on('data', (c) => process.stderr.write(c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 || code === null ? resolve(out) : reject(new Error(`wrk exited ${code}:\n${out}`))));
  });
}

/**
 * The scenario through wrk (Debian's package, bench/wrk.lua): a C load generator that leaves the cores to the
 * servers, where autocannon takes most of one of the two. A run with a body file ends when every body has its answer,
 * timed by the script.
 */
async function runWrkScenario() {
  const headers = Object.entries(scenario.headers ?? {}).flat();
  const file = scenario.bodiesFile ?? '-';
  const amount = String(scenario.amount ?? 1e9);
  let done = null;
  const args = ['-t1', `-c${scenario.connections ?? 32}`, `-d${scenario.duration}s`, '--latency', '-s', fileURLToPath(new URL('wrk.lua', import.meta.url)), scenario.url, '--', scenario.method ?? 'GET', file, amount, ...headers];
  const out = await spawnWrk(args, { WRK_BODY: scenario.body ?? '' }, (line, stop) => {
    const m = /^DONE (\d+) ([\d.]+) (\d+)$/.exec(line);
    if (m) {
      done = { requests: Number(m[1]), seconds: Number(m[2]), non2xx: Number(m[3]) };
      stop();
    }
  });
  const summary = wrkSummary(out);
  if (!done) return { ...summary, seconds: summary.requests / summary.rps };
  return { ...summary, requests: done.requests, rps: done.requests / done.seconds, seconds: done.seconds, non2xx: done.non2xx };
}

/** wrk against several targets at once, which add up (the scale-out rows); with a method, through bench/wrk.lua (a POST body). */
async function runWrk() {
  const connections = `-c${Math.max(1, Math.floor((scenario.connections ?? 32) / scenario.urls.length))}`;
  const one = (url) => {
    if (scenario.method) {
      const script = ['-s', fileURLToPath(new URL('wrk.lua', import.meta.url)), url, '--', scenario.method, '-', '1e9', ...Object.entries(scenario.headers ?? {}).flat()];
      return spawnWrk(['-t1', connections, `-d${scenario.duration}s`, '--latency', ...script], { WRK_BODY: scenario.body ?? '' });
    }
    const headers = Object.entries(scenario.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    return spawnWrk(['-t1', connections, `-d${scenario.duration}s`, '--latency', ...headers, url], {});
  };
  const outputs = (await Promise.all(scenario.urls.map(one))).map(wrkSummary);
  const sum = (key) => outputs.reduce((n, o) => n + o[key], 0);
  return { requests: sum('requests'), rps: sum('rps'), seconds: scenario.duration, p50: outputs[0].p50, p99: outputs[0].p99, errors: sum('errors'), non2xx: sum('non2xx') };
}

// BENCH_LOADGEN=autocannon measures a scenario with autocannon instead (how the runs before wrk were made).
const LOADGEN = process.env.BENCH_LOADGEN ?? 'wrk';
const run = scenario.kind === 'flow' ? runFlow : scenario.kind === 'refresh-chain' ? runRefreshChain : scenario.kind === 'ttfb' ? runTtfb : scenario.kind === 'wrk' ? runWrk : LOADGEN === 'autocannon' ? runAutocannon : runWrkScenario;
process.stdout.write(JSON.stringify(await run()) + '\n');
