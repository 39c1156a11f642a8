import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/server.js';
import { ROOT } from './cli.js';
import { until } from './until.js';

export const NGINX = '/usr/sbin/nginx';
export const nginxInstalled = existsSync(NGINX);
if (!nginxInstalled) console.warn('nginx is not installed (apt-get install -y nginx): the proxy tests are skipped');

/** The public name the documented configuration serves, and the certificate the test makes for it. */
export const PUBLIC_HOST = 'auth.example.com';

/** The nginx configuration exactly as docs/deploying.md shows it. */
export function documentedConfig(): string {
  const doc = readFileSync(join(ROOT, 'docs/deploying.md'), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/deploying.md has no nginx block');
  return block[1]!;
}

export interface Nginx {
  /** The HTTPS port on 127.0.0.1 that stands for the documented `listen 443`. */
  port: number;
  /** nginx's error log so far (why it answered 502, which upstream it marked failed). */
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * Runs Debian's nginx with docs/deploying.md's configuration, changed only where a test must: its two upstream
 * addresses, its listen ports on 127.0.0.1 and a self-signed certificate for auth.example.com.
 */
export async function startDocumentedNginx(upstreams: [string, string]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'serika-nginx-'));
  const port = await freePort('127.0.0.1');
  const httpPort = await freePort('127.0.0.1');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${PUBLIC_HOST}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], {
    stdio: 'ignore',
  });
  const documented = documentedConfig();
  for (const placeholder of ['10.0.0.11:3000', '10.0.0.12:3000', 'listen 443 ssl http2;', 'listen 80;']) {
    if (!documented.includes(placeholder)) throw new Error(`docs/deploying.md's nginx block no longer has "${placeholder}"`);
  }
  const site = documented
    .replace('10.0.0.11:3000', upstreams[0])
    .replace('10.0.0.12:3000', upstreams[1])
    .replace('listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`)
    .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
    .replace(`/etc/ssl/certs/${PUBLIC_HOST}.pem`, join(dir, 'cert.pem'))
    .replace(`/etc/ssl/private/${PUBLIC_HOST}.key`, join(dir, 'key.pem'));
  writeFileSync(join(dir, 'serika.conf'), site);
  const temps = ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
  for (const temp of temps) mkdirSync(join(dir, temp));
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${user}worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents {}\nhttp {\n  access_log off;\n` +
      temps.map((t) => `  ${t === 'body' ? 'client_body' : t}_temp_path ${dir}/${t};\n`).join('') +
      `  include ${dir}/serika.conf;\n}\n`,
  );
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(async () => (await viaProxy(port, '/healthz', { localAddress: '127.0.0.1' }).catch(() => null))?.status === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: 'nginx to proxy /healthz',
    });
  } catch (error) {
    const log = errorLog();
    await stop();
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  return { port, errorLog, stop };
}

/** An HTTPS request to nginx from a chosen loopback address, as a browser or an app would send it. */
export function viaProxy(
  port: number,
  path: string,
  options: { localAddress: string; body?: string; headers?: Record<string, string> },
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.body === undefined ? 'GET' : 'POST',
        localAddress: options.localAddress,
        servername: PUBLIC_HOST,
        rejectUnauthorized: false,
        headers: { host: PUBLIC_HOST, ...(options.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...options.headers },
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
