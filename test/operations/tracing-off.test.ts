import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from '../helpers/server.js';

describe('tracing off (no OTLP endpoint set)', () => {
  let ts: TestServer;
  const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('@opentelemetry/'));
  /** What was loaded before Serika's code ran: vitest itself loads OpenTelemetry's (no-op) API. */
  let before: string[];
  beforeAll(async () => {
    before = loaded();
    ts = await startTestServer('sqlite');
  });
  afterAll(async () => ts?.close());

  it('costs nothing: no OpenTelemetry SDK is loaded, however many requests are served', async () => {
    expect(ts.services.tracing).toBeNull();
    for (let i = 0; i < 3; i++) expect((await call('GET', `${ts.url}/.well-known/oauth-authorization-server`)).status).toBe(200);
    // tracing.test.ts checks that a traced server's process shows the SDK here, so this check can fail.
    expect(loaded()).toEqual(before);
    expect(before.some((path) => path.includes('/sdk-trace'))).toBe(false);
  });
});
