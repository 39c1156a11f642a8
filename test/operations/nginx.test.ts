import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postFrom, rawRequest } from '../helpers/loopback.js';
import { nginxInstalled, startDocumentedNginx, viaProxy, type Nginx } from '../helpers/nginx.js';
import { captureLog, startInstance, startTestServer, type TestServer } from '../helpers/server.js';

// Redis keeps counters for a minute across runs: each run speaks from its own addresses.
const NET = `127.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 250) + 1}`;
const REDIS_URL = process.env.TEST_REDIS_URL;
if (!REDIS_URL) console.warn('TEST_REDIS_URL is not set: the two-instance proxy test is skipped');

describe.skipIf(!nginxInstalled || !REDIS_URL)('behind nginx, configured as docs/deploying.md shows, in front of two instances', () => {
  let nginx: Nginx;
  let a: TestServer;
  let b: Awaited<ReturnType<typeof startInstance>>;
  let port: number;
  const log = captureLog();

  beforeAll(async () => {
    const env = { PUBLIC_URL: 'https://auth.example.com', TRUST_PROXY: '127.0.0.1', RATE_LIMIT_TOKEN: '3', REDIS_URL: REDIS_URL!, LOG_LEVEL: 'info' };
    a = await startTestServer('sqlite', env, { logStream: log.logStream });
    b = await startInstance(a.database.url, env, { logStream: log.logStream });
    nginx = await startDocumentedNginx([new URL(a.url).host, new URL(b.url).host]);
    port = nginx.port;
  });
  afterAll(async () => {
    await nginx?.stop();
    await a?.close();
    await b?.close();
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
