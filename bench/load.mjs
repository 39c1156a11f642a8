// The load generator, run as its own process so it never shares a CPU budget
// with the server's event loop. Reads one scenario as JSON from argv[2] and
// prints one JSON result line.
import { readFileSync } from 'node:fs';
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

/** wrk (Debian's package): a C load generator that leaves the cores to the servers. Several targets run at once and add up. */
async function runWrk() {
  const { spawn } = await import('node:child_process');
  const one = (url) =>
    new Promise((resolve, reject) => {
      const headers = Object.entries(scenario.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
      const args = ['-t1', `-c${Math.max(1, Math.floor((scenario.connections ?? 32) / scenario.urls.length))}`, `-d${scenario.duration}s`, '--latency', ...headers, url];
      const child = spawn('wrk', args);
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('error', reject);
      child.on('exit', () => resolve(out));
    });
  const outputs = await Promise.all(scenario.urls.map(one));
  const ms = (text) => {
    const m = /([\d.]+)(us|ms|s)/.exec(text ?? '');
    return m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
  };
  const rps = outputs.reduce((n, o) => n + Number(/Requests\/sec:\s+([\d.]+)/.exec(o)?.[1] ?? 0), 0);
  const requests = outputs.reduce((n, o) => n + Number(/(\d+) requests in/.exec(o)?.[1] ?? 0), 0);
  const non2xx = outputs.reduce((n, o) => n + Number(/Non-2xx or 3xx responses: (\d+)/.exec(o)?.[1] ?? 0), 0);
  const errors = outputs.reduce((n, o) => n + (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(o)?.slice(1).reduce((a, b) => a + Number(b), 0) ?? 0), 0);
  return { requests, rps, seconds: scenario.duration, p50: ms(/50%\s+(\S+)/.exec(outputs[0])?.[1]), p99: ms(/99%\s+(\S+)/.exec(outputs[0])?.[1]), errors, non2xx };
}

const run = scenario.kind === 'flow' ? runFlow : scenario.kind === 'refresh-chain' ? runRefreshChain : scenario.kind === 'ttfb' ? runTtfb : scenario.kind === 'wrk' ? runWrk : runAutocannon;
process.stdout.write(JSON.stringify(await run()) + '\n');
