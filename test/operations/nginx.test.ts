import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server.js';
import { ROOT } from '../helpers/cli.js';
import { postFrom, rawRequest } from '../helpers/loopback.js';
import { captureLog, startInstance, startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';

const NGINX = '/usr/sbin/nginx';
// Redis keeps counters for a minute across runs: each run speaks from its own addresses.
const NET = `127.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 250) + 1}`;
const REDIS_URL = process.env.TEST_REDIS_URL;
if (!existsSync(NGINX)) console.warn('nginx is not installed (apt-get install -y nginx): the proxy tests are skipped');
if (!REDIS_URL) console.warn('TEST_REDIS_URL is not set: the two-instance proxy test is skipped');

/** The nginx configuration exactly as docs/deploying.md shows it. */
function documentedConfig(): string {
  const doc = readFileSync(join(ROOT, 'docs/deploying.md'), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/deploying.md has no nginx block');
  return block[1]!;
}

/** An HTTPS request to nginx from a chosen loopback address, as a browser or an app would send it. */
function viaProxy(port: number, path: string, options: { localAddress: string; body?: string; headers?: Record<string, string> }): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.body === undefined ? 'GET' : 'POST',
        localAddress: options.localAddress,
        servername: 'auth.example.com',
        rejectUnauthorized: false,
        headers: { host: 'auth.example.com', ...(options.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...options.headers },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text, headers: response.headers }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

describe.skipIf(!existsSync(NGINX) || !REDIS_URL)('behind nginx, configured as docs/deploying.md shows, in front of two instances', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-nginx-'));
  let nginx: ChildProcess;
  let a: TestServer;
  let b: Awaited<ReturnType<typeof startInstance>>;
  let port: number;
  const log = captureLog();

  beforeAll(async () => {
    const env = { PUBLIC_URL: 'https://auth.example.com', TRUST_PROXY: '127.0.0.1', RATE_LIMIT_TOKEN: '3', REDIS_URL: REDIS_URL!, LOG_LEVEL: 'info' };
    a = await startTestServer('sqlite', env, { logStream: log.logStream });
    b = await startInstance(a.database.url, env, { logStream: log.logStream });
    port = await freePort('127.0.0.1');
    const httpPort = await freePort('127.0.0.1');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=auth.example.com', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const site = documentedConfig()
      .replace('10.0.0.11:3000', new URL(a.url).host)
      .replace('10.0.0.12:3000', new URL(b.url).host)
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`)
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replace('/etc/ssl/certs/auth.example.com.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/private/auth.example.com.key', join(dir, 'key.pem'));
    writeFileSync(join(dir, 'serika.conf'), site);
    for (const temp of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, temp));
    const user = process.getuid?.() === 0 ? 'user root;\n' : '';
    writeFileSync(
      join(dir, 'nginx.conf'),
      `${user}worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n` +
        ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t === 'body' ? 'client_body' : t}_temp_path ${dir}/${t};\n`).join('') +
        `  include ${dir}/serika.conf;\n}\n`,
    );
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    await until(async () => (await viaProxy(port, '/healthz', { localAddress: '127.0.0.1' }).catch(() => null))?.status === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: 'nginx to proxy /healthz',
    });
  });
  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await a?.close();
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves through TLS termination and reaches both instances', async () => {
    const metadata = await viaProxy(port, '/.well-known/oauth-authorization-server', { localAddress: '127.0.0.1' });
    expect(metadata.status).toBe(200);
    expect(JSON.parse(metadata.text).issuer).toBe('https://auth.example.com');
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) ids.add(String((await viaProxy(port, '/healthz', { localAddress: '127.0.0.1' })).headers['x-request-id']));
    expect(ids.size).toBe(4);
  });

  it('counts per-IP limits per real client, and a spoofed X-Forwarded-For changes nothing', async () => {
    const token = (localAddress: string, headers: Record<string, string> = {}) =>
      viaProxy(port, '/api/openai/v1/oauth/token', { localAddress, body: 'grant_type=refresh_token&refresh_token=x&client_id=client_nope', headers });
    const alice = [];
    for (let i = 0; i < 4; i++) alice.push((await token(`${NET}.21`)).status);
    // Three per minute per IP, counted across both instances through Redis.
    expect(alice).toEqual([401, 401, 401, 429]);
    expect((await token(`${NET}.22`)).status).toBe(401);
    // Claiming to be Alice does not make Bob Alice, nor does claiming anyone else free Alice.
    expect((await token(`${NET}.23`, { 'x-forwarded-for': `${NET}.21` })).status).toBe(401);
    expect((await token(`${NET}.21`, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const direct = [];
    for (let i = 0; i < 4; i++) {
      const reply = await postFrom(`${NET}.31`, `${a.api}/oauth/token`, 'grant_type=refresh_token&refresh_token=x&client_id=client_nope');
      direct.push(reply.status);
    }
    expect(direct).toEqual([401, 401, 401, 429]);
    // A fresh spoofed address from the same untrusted peer is still that peer.
    const spoofed = await rawRequest('POST', `${a.api}/oauth/token`, {
      localAddress: `${NET}.31`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.7' },
      body: 'grant_type=refresh_token&refresh_token=x&client_id=client_nope',
    });
    expect(spoofed.status).toBe(429);
  });

  it('logs the real client address of a proxied request', () => {
    const lines = log.lines.map((l) => JSON.parse(l)).filter((l) => l.req?.url === '/api/openai/v1/oauth/token');
    expect(lines.some((l) => l.req.remoteAddress === `${NET}.22`)).toBe(true);
  });
});
