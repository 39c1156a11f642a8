import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { obtainCode, tokenRequest, userWithSession } from '../helpers/oauth.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { call, seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { clientWithAllScopes } from '../helpers/tokens.js';
import { until } from '../helpers/until.js';

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

const loadedModules = () => Object.keys(createRequire(import.meta.url).cache);

describe.each(DIALECTS)('OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT set, %s)', (dialect) => {
  if (!dialectAvailable(dialect)) return void it.skip('needs TEST_DATABASE_URL_PG', () => {});
  let receiver: OtlpReceiver;
  let up: FakeUpstream;
  let ts: TestServer;

  beforeAll(async () => {
    // Read by the SDK itself from the process's environment: a short batch delay, and the service's name.
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    process.env.OTEL_SERVICE_NAME = 'serika-traced';
    receiver = await startOtlpReceiver();
    up = await startFakeUpstream();
    ts = await startTestServer(dialect, {
      UPSTREAM_BASE_URL: up.baseUrl,
      RATE_LIMIT_TOKEN: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
    await receiver?.close();
  });

  const trace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
  /** The SERVER span of the request answered with this X-Request-Id, once exported. */
  const serverSpan = async (requestId: string): Promise<ReceivedSpan> => {
    let found: ReceivedSpan | undefined;
    await until(() => (found = receiver.spans.find((s) => s.kind === SERVER && s.attributes['serika.request_id'] === requestId)) !== undefined, {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: `the server span of request ${requestId}`,
    });
    return found!;
  };

  it('exports a token request as a server span, its statements below it, part of the caller’s trace', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await clientWithAllScopes(ts, user);
    const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'profile', prompt: 'consent' });
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const reply = await tokenRequest(
      ts,
      { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! },
      { traceparent: `00-${callerTrace}-${callerSpan}-01` },
    );
    expect(reply.status).toBe(200);

    const span = await serverSpan(reply.headers.get('x-request-id')!);
    expect(span.name).toBe('POST /api/openai/v1/oauth/token');
    expect(span.traceId).toBe(callerTrace);
    expect(span.parentSpanId).toBe(callerSpan);
    expect(span.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/openai/v1/oauth/token', 'http.response.status_code': 200, 'url.path': '/api/openai/v1/oauth/token' });
    expect(span.resource['service.name']).toBe('serika-traced');

    await until(() => trace(callerTrace).some((s) => s.name === 'INSERT oauth_tokens'), { timeoutMs: 10_000, intervalMs: 50, message: 'the token insert span' });
    const statements = trace(callerTrace).filter((s) => s.attributes['db.system.name'] === (dialect === 'postgres' ? 'postgresql' : 'sqlite'));
    expect(statements.every((s) => s.kind === CLIENT && s.parentSpanId === span.spanId)).toBe(true);
    expect(statements.map((s) => s.name)).toEqual(expect.arrayContaining(['INSERT oauth_tokens']));
    const insert = statements.find((s) => s.name === 'INSERT oauth_tokens')!;
    expect(insert.attributes).toMatchObject({ 'db.operation.name': 'INSERT', 'db.collection.name': 'oauth_tokens' });
    // Placeholders only: no code, verifier, secret or token ever reaches a span.
    const everything = JSON.stringify(trace(callerTrace));
    for (const secret of [code, verifier, client.clientSecret!, reply.json.access_token as string, reply.json.refresh_token as string]) expect(everything).not.toContain(secret);
  });

  it('exports a chat completion with its upstream call, sends the upstream traceparent, and keeps a stream’s usage row in the trace', async () => {
    const { user, agent } = await userWithSession(ts);
    const client = await clientWithAllScopes(ts, user, 'Traced App');
    const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'generations', prompt: 'consent' });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! });
    const bearer = { authorization: `Bearer ${tokens.json.access_token as string}` };

    for (const stream of [false, true]) {
      const reply = await call('POST', `${ts.api}/oauth/chat/completions`, { headers: bearer, json: { model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] } });
      expect(reply.status).toBe(200);
      const span = await serverSpan(reply.headers.get('x-request-id')!);
      expect(span.name).toBe('POST /api/openai/v1/oauth/chat/completions');
      expect(span.parentSpanId).toBe('');

      await until(() => trace(span.traceId).some((s) => s.name === 'POST /chat/completions') && trace(span.traceId).some((s) => s.name === 'INSERT usage_records'), {
        timeoutMs: 10_000,
        intervalMs: 50,
        message: 'the upstream span and the usage row’s statement',
      }).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(trace(span.traceId).map((s) => [s.name, s.spanId, s.parentSpanId]))}`);
      });
      const upstream = trace(span.traceId).find((s) => s.name === 'POST /chat/completions')!;
      expect(upstream.kind).toBe(CLIENT);
      expect(upstream.parentSpanId).toBe(span.spanId);
      expect(upstream.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 200, 'gen_ai.request.model': 'm', 'url.full': `${up.baseUrl}/chat/completions` });
      // W3C Trace Context to the provider: its spans would hang below Serika's upstream span.
      const sent = up.received.at(-1)!;
      expect(sent.headers.traceparent).toBe(`00-${span.traceId}-${upstream.spanId}-01`);
      // The usage row is written as the answer ends (for a stream, from the upstream body's events): still this request's.
      expect(trace(span.traceId).find((s) => s.name === 'INSERT usage_records')!.parentSpanId).toBe(span.spanId);
    }
  });

  it('keeps a body that arrives after the headers in its request’s trace', async () => {
    const url = new URL(`${ts.api}/oauth/token`);
    const body = 'grant_type=refresh_token&refresh_token=serika_rt_nope&client_id=client_nope&client_secret=nope';
    const requestId = await new Promise<string>((resolve, reject) => {
      const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } }, (response) => {
        response.resume();
        response.on('end', () => resolve(String(response.headers['x-request-id'])));
      });
      request.on('error', reject);
      request.flushHeaders();
      // The body comes later, from the socket: its parsing runs outside the context the first hook entered.
      setTimeout(() => request.end(body), 150);
    });
    const span = await serverSpan(requestId);
    await until(() => trace(span.traceId).some((s) => s.attributes['db.collection.name'] === 'oauth_clients'), { timeoutMs: 10_000, intervalMs: 50, message: 'the client lookup below the request' });
    expect(trace(span.traceId).find((s) => s.attributes['db.collection.name'] === 'oauth_clients')!.parentSpanId).toBe(span.spanId);
  });

  it('fails the span of an upstream that fails; probes and scrapes are not traced', async () => {
    const { key } = await seedUser(ts);
    const reply = await call('POST', `${ts.api}/chat/completions`, { key, json: { model: 'fail-500', messages: [] } });
    expect(reply.status).toBe(502);
    const span = await serverSpan(reply.headers.get('x-request-id')!);
    expect(span.status).toBe(ERROR);
    await until(() => trace(span.traceId).some((s) => s.name === 'POST /chat/completions'), { timeoutMs: 10_000, intervalMs: 50, message: 'the failed upstream span' });
    expect(trace(span.traceId).find((s) => s.name === 'POST /chat/completions')!.status).toBe(ERROR);

    const probe = await call('GET', `${ts.url}/healthz`);
    await call('GET', `${ts.url}/metrics`);
    const after = await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
    await serverSpan(after.headers.get('x-request-id')!);
    expect(receiver.spans.some((s) => s.attributes['serika.request_id'] === probe.headers.get('x-request-id'))).toBe(false);
    expect(receiver.spans.some((s) => s.name.includes('/metrics') || s.name.includes('/healthz'))).toBe(false);
  });

  it('loads the SDK (the check the untraced server passes is one that can fail)', () => {
    expect(loadedModules().some((path) => path.includes('@opentelemetry/sdk-trace'))).toBe(true);
  });
});

describe('OTLP over HTTP with protobuf, the protocol by default', () => {
  it('posts application/x-protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given', async () => {
    const receiver = await startOtlpReceiver();
    const ts = await startTestServer('sqlite', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` });
    try {
      await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
      await until(() => receiver.contentTypes.length > 0, { timeoutMs: 10_000, intervalMs: 50, message: 'a protobuf export' });
      expect(receiver.contentTypes[0]).toBe('application/x-protobuf');
    } finally {
      await ts.close();
      await receiver.close();
    }
  });
});
