import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, captureLog, seedUser, startTestServer, type TestServer } from '../helpers/server.js';

describe('operations endpoints', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { METRICS_TOKEN: 'metrics-secret-token' });
  });
  afterAll(async () => {
    await ts?.close();
  });

  it('answers /healthz', async () => {
    const reply = await call('GET', `${ts.url}/healthz`);
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ status: 'ok' });
  });

  it('answers /readyz when the database answers', async () => {
    const reply = await call('GET', `${ts.url}/readyz`);
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ status: 'ok', database: 'ok', redis: 'off' });
  });

  it('puts a request id on every response, and keeps a sane one given by a proxy', async () => {
    const minted = await call('GET', `${ts.url}/healthz`);
    expect(minted.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await call('GET', `${ts.url}/healthz`, { headers: { 'x-request-id': 'lb-1234.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-1234.abc');
    const replaced = await call('GET', `${ts.url}/healthz`, { headers: { 'x-request-id': 'bad id <script>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('guards /metrics with METRICS_TOKEN', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic bWV0cmljcw==' }] as Array<Record<string, string>>) {
      const reply = await call('GET', `${ts.url}/metrics`, { headers });
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="serika"');
      expect(reply.text).not.toContain('serika_http_requests_total');
    }
  });

  it('counts requests and latency by route pattern, never by ID', async () => {
    const user = await seedUser(ts);
    const created = await call('POST', `${ts.api}/oauth/clients`, {
      key: user.key,
      json: { name: 'm', redirectUris: ['https://a.example/cb'], scopes: ['profile'] },
    });
    await call('GET', `${ts.api}/oauth/clients/${created.json.clientId}`, { key: user.key });
    const reply = await call('GET', `${ts.url}/metrics`, { headers: { authorization: 'Bearer metrics-secret-token' } });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toContain('text/plain');
    expect(reply.text).toMatch(/serika_http_requests_total\{method="POST",route="\/api\/openai\/v1\/oauth\/clients",status="201"\} 1/);
    expect(reply.text).toContain('route="/api/openai/v1/oauth/clients/:clientId"');
    expect(reply.text).toMatch(/serika_http_request_duration_seconds_bucket\{le="0.005",method="POST"/);
    expect(reply.text).toContain('serika_process_cpu_seconds_total');
    expect(reply.text).not.toContain(created.json.clientId);
  });

  it('serves the OpenAPI document built from the route schemas, with examples', async () => {
    const reply = await call('GET', `${ts.url}/docs/openapi.json`);
    expect(reply.status).toBe(200);
    const doc = reply.json;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: ts.config.publicUrl }]);
    const clients = doc.paths['/api/openai/v1/oauth/clients'];
    expect(Object.keys(clients).sort()).toEqual(['get', 'post']);
    const byId = doc.paths['/api/openai/v1/oauth/clients/{clientId}'];
    expect(Object.keys(byId).sort()).toEqual(['delete', 'get', 'patch']);
    expect(doc.paths['/api/openai/v1/oauth/clients/{clientId}/reset-secret'].post).toBeDefined();
    const body = clients.post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['name', 'redirectUris', 'scopes']);
    expect(clients.post.requestBody.content['application/json'].example).toMatchObject({ name: 'My AI Writer' });
    expect(clients.post.responses['201']).toBeDefined();
    expect(clients.post.security).toEqual([{ apiKey: [] }]);
    expect(doc.paths['/metrics']).toBeUndefined();
    // SPEC §14: the Responses API and embeddings, under both base paths.
    for (const base of ['/api/openai/v1', '/api/openai/v1/oauth']) {
      expect(doc.paths[`${base}/responses`].post).toBeDefined();
      expect(Object.keys(doc.paths[`${base}/responses/{id}`]).sort()).toEqual(['delete', 'get']);
      expect(doc.paths[`${base}/embeddings`].post).toBeDefined();
    }
  });

  it('serves the docs UI from local assets only', async () => {
    const page = await fetch(`${ts.url}/docs`, { redirect: 'follow' });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html.toLowerCase()).toContain('swagger');
    expect(html).not.toMatch(/(src|href)=["']https?:\/\//);
  });

  it('answers /readyz with 503 once the database is gone, while /healthz stays up', async () => {
    const other = await startTestServer('sqlite');
    try {
      await other.server.storage.close();
      const ready = await call('GET', `${other.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.json).toEqual({ status: 'unavailable', database: 'unreachable', redis: 'off' });
      expect((await call('GET', `${other.url}/healthz`)).status).toBe(200);
    } finally {
      await other.server.app.close();
      await other.database.cleanup();
    }
  });
});

describe('operations without METRICS_TOKEN', () => {
  it('serves /metrics openly', async () => {
    const ts = await startTestServer('sqlite');
    try {
      const reply = await call('GET', `${ts.url}/metrics`);
      expect(reply.status).toBe(200);
      expect(reply.text).toContain('# TYPE serika_http_requests_total counter');
    } finally {
      await ts.close();
    }
  });
});

describe('TRUST_PROXY that believes more hops than stand in front of Serika', () => {
  const warnings = (lines: string[]) => lines.filter((l) => l.includes('"level":40') && l.includes('TRUST_PROXY'));

  it('true: a warning at start, before any request', async () => {
    const log = captureLog();
    const ts = await startTestServer('sqlite', { TRUST_PROXY: 'true', LOG_LEVEL: 'warn' }, { logStream: log.logStream });
    try {
      expect(warnings(log.lines)).toHaveLength(1);
      expect(warnings(log.lines)[0]).toContain('TRUST_PROXY=true believes every X-Forwarded-For entry');
    } finally {
      await ts.close();
    }
  });

  it('a hop count: one warning when the first request has fewer X-Forwarded-For entries (one for two), probes aside, and none later', async () => {
    const log = captureLog();
    const ts = await startTestServer('sqlite', { TRUST_PROXY: '2', LOG_LEVEL: 'warn' }, { logStream: log.logStream });
    try {
      await call('GET', `${ts.url}/healthz`);
      expect(warnings(log.lines)).toHaveLength(0);
      await call('GET', `${ts.url}/.well-known/oauth-authorization-server`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(warnings(log.lines)).toHaveLength(1);
      expect(JSON.parse(warnings(log.lines)[0]!)).toMatchObject({ trustProxy: 2, forwardedFor: 1 });
      for (let i = 0; i < 3; i++) await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
      expect(warnings(log.lines)).toHaveLength(1);
    } finally {
      await ts.close();
    }
  });

  it('a hop count the first request bears out: no warning', async () => {
    const log = captureLog();
    const ts = await startTestServer('sqlite', { TRUST_PROXY: '1', LOG_LEVEL: 'info' }, { logStream: log.logStream });
    try {
      await call('GET', `${ts.url}/.well-known/oauth-authorization-server`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
      // The positive anchor: the log holds both requests' lines, and the warning is written as the first
      // request arrives, before its line: had there been one, it would be here.
      expect(log.lines.filter((l) => l.includes('"msg":"incoming request"'))).toHaveLength(2);
      expect(warnings(log.lines)).toHaveLength(0);
    } finally {
      await ts.close();
    }
  });
});
