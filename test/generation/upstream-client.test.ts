import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamClient } from '../../src/generation/upstream.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

describe('UpstreamClient', () => {
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it("sends each call under the base URL's path, with or without its trailing slash, and only Serika's key", async () => {
    for (const baseUrl of [upstream.baseUrl, `${upstream.baseUrl}/`]) {
      const client = new UpstreamClient({ baseUrl, apiKey: 'sk-serika', timeoutMs: 5_000 });
      const response = await client.send('POST', '/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, new AbortController().signal);
      expect(response.statusCode).toBe(200);
      await client.readAll(response);
      const seen = upstream.received.at(-1)!;
      expect(seen).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { model: 'm' } });
      expect(seen.headers.authorization).toBe('Bearer sk-serika');
    }
  });
});
