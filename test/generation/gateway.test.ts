import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_USAGE, USAGE, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { userWithSession, type Agent } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';
import { until } from '../helpers/until.js';

const UPSTREAM_KEY = 'sk-upstream-secret';

describe('generation through an OpenAI-compatible upstream', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let user: Seeded;
  let agent: Agent;
  let token: string;
  let clientId: string;
  let sdk: OpenAI;

  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, UPSTREAM_API_KEY: UPSTREAM_KEY, UPSTREAM_TIMEOUT: '1' });
    ({ user, agent } = await userWithSession(ts));
    const client = await clientWithAllScopes(ts, user);
    clientId = client.clientId;
    token = (await accessTokenFor(ts, agent, client, 'generations')).access_token;
    sdk = new OpenAI({ apiKey: token, baseURL: `${ts.config.publicUrl}/api/openai/v1/oauth`, maxRetries: 0 });
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  const lastReceived = () => up.received[up.received.length - 1]!;
  const usageRows = () => ts.services.storage.db.selectFrom('usage_records').selectAll().where('user_id', '=', user.userId).orderBy('created_at', 'asc').execute();

  it('SPEC §14: a credential on the wrong base path is told where it belongs', async () => {
    const api = `${ts.config.publicUrl}/api/openai/v1`;
    const chat = { model: 'test-model', messages: [{ role: 'user', content: 'hi' }] };
    // A user of its own, so the usage the API-key tests below read is theirs alone.
    const other = await seedUser(ts);
    // The same call with each credential in its place works: the anchor of the refusals below.
    // (models: a call that records no usage, which the tests below count.)
    expect((await call('GET', `${api}/oauth/models`, { key: token })).status).toBe(200);
    expect((await call('POST', `${api}/chat/completions`, { key: other.key, json: chat })).status).toBe(200);
    const tokenOnKeyPath = await call('POST', `${api}/chat/completions`, { key: token, json: chat });
    expect(tokenOnKeyPath.status).toBe(401);
    expect(tokenOnKeyPath.json.error.code).toBe('invalid_api_key');
    expect(tokenOnKeyPath.json.error.message).toContain(`belongs under ${api}/oauth`);
    const keyOnTokenPath = await call('POST', `${api}/oauth/chat/completions`, { key: other.key, json: chat });
    expect(keyOnTokenPath.status).toBe(401);
    expect(keyOnTokenPath.json.error.code).toBe('invalid_token');
    expect(keyOnTokenPath.json.error.message).toContain(`belongs under ${api} (without /oauth)`);
    const mcp = await call('POST', `${ts.config.publicUrl}/mcp`, { key: other.key, json: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} } });
    expect(mcp.status).toBe(401);
    expect(JSON.stringify(mcp.json)).toContain(`belongs under ${api} (without /oauth)`);
    // A key that is simply wrong keeps the plain message.
    expect((await call('POST', `${api}/chat/completions`, { key: 'sk-serika-nope', json: chat })).json.error.message).toBe('Incorrect API key provided.');
  });

  describe('the official openai SDK with an access token', () => {
    it('chat.completions.create, and the upstream saw only Serika’s key', async () => {
      const result = await sdk.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }] });
      expect(result.choices[0]?.message.content).toBe('Hello from upstream');
      expect(result.usage).toEqual(USAGE);
      const seen = lastReceived();
      expect(seen.path).toBe('/v1/chat/completions');
      expect(seen.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(JSON.stringify(seen.headers)).not.toContain(token);
      expect(seen.headers.cookie).toBeUndefined();
      expect(seen.body).toEqual({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }] });
    });

    it('streams chunk by chunk; Serika asks for usage itself and strips that chunk', async () => {
      const stream = await sdk.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }], stream: true });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.map((c) => c.choices[0]?.delta.content).join('')).toBe('Hello from upstream');
      expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
      expect(chunks.some((c) => c.usage)).toBe(false);
      expect(lastReceived().body.stream_options).toEqual({ include_usage: true });
      const row = (await usageRows()).at(-1)!;
      expect(row).toMatchObject({ prompt_tokens: STREAM_USAGE.prompt_tokens, completion_tokens: STREAM_USAGE.completion_tokens, status: 200, client_id: clientId });
    });

    it('passes the usage chunk on when the app asked for it', async () => {
      const stream = await sdk.chat.completions.create({
        model: 'test-model',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.at(-1)?.usage).toEqual(STREAM_USAGE);
    });

    it('images.generate and models.list', async () => {
      const images = await sdk.images.generate({ model: 'img-model', prompt: 'a cat', n: 3 });
      expect(images.data).toHaveLength(3);
      expect(lastReceived().path).toBe('/v1/images/generations');
      expect((await usageRows()).at(-1)).toMatchObject({ images: 3, prompt_tokens: 9, completion_tokens: 100, endpoint: 'images.generations' });
      const models = await sdk.models.list();
      expect(models.data.map((m) => m.id)).toEqual(['test-model']);
    });

    it.each([
      ['fail-500', 502, OpenAI.InternalServerError],
      ['unauthorized', 502, OpenAI.InternalServerError],
      ['garbage', 502, OpenAI.InternalServerError],
      ['drop', 502, OpenAI.InternalServerError],
      ['slow', 504, OpenAI.InternalServerError],
      ['no-such-model', 404, OpenAI.NotFoundError],
      ['bad-request', 400, OpenAI.BadRequestError],
    ] as const)('upstream %s reaches the SDK as %i', async (model, status, ErrorClass) => {
      const before = (await usageRows()).length;
      const started = Date.now();
      const error = await sdk.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ErrorClass);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
      // Within UPSTREAM_TIMEOUT (1 s) and a margin, never the upstream's 3 s.
      expect(Date.now() - started).toBeLessThan(2500);
      // Serika's upstream key never comes back, even when the upstream quotes it.
      expect(JSON.stringify((error as InstanceType<typeof OpenAI.APIError>).error)).not.toContain(UPSTREAM_KEY);
      const rows = await usageRows();
      expect(rows.length).toBe(before + 1);
      expect(rows.at(-1)).toMatchObject({ status, prompt_tokens: 0, completion_tokens: 0, images: 0 });
    });

    it('passes the upstream’s own 4xx error body on', async () => {
      const error = (await sdk.chat.completions.create({ model: 'no-such-model', messages: [] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error.code).toBe('model_not_found');
      expect(error.param).toBe('model');
    });

    it('streams that stall past UPSTREAM_TIMEOUT end with an error event, charged nothing', async () => {
      const stream = await sdk.chat.completions.create({ model: 'stall-stream', messages: [], stream: true });
      const error = await (async () => {
        for await (const _ of stream) {
          /* drain */
        }
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((await usageRows()).at(-1)).toMatchObject({ status: 504, prompt_tokens: 0 });
    });

    it('a stream the upstream drops halfway ends with an error event, charged nothing', async () => {
      const stream = await sdk.chat.completions.create({ model: 'drop-stream', messages: [], stream: true });
      const words: string[] = [];
      const error = await (async () => {
        for await (const chunk of stream) words.push(chunk.choices[0]?.delta.content ?? '');
      })().catch((e: unknown) => e);
      expect(words.join('')).toBe('Hello from upstream');
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((await usageRows()).filter((r) => r.model === 'drop-stream')).toEqual([expect.objectContaining({ status: 502, prompt_tokens: 0, completion_tokens: 0 })]);
    });

    it('commits the usage before the app sees [DONE], though the upstream holds the stream open after it', async () => {
      const seen = await new Promise<string>((resolve, reject) => {
        const request = httpRequest(`${ts.api}/oauth/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        request.on('response', (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
            if (text.includes('[DONE]')) resolve(text);
          });
          response.on('error', reject);
        });
        request.on('error', reject);
        request.end(JSON.stringify({ model: 'linger-stream', messages: [], stream: true }));
      });
      // Read the moment [DONE] arrived: the upstream ends its stream a second later.
      const rows = (await usageRows()).filter((r) => r.model === 'linger-stream');
      expect(rows).toEqual([expect.objectContaining({ status: 200, prompt_tokens: STREAM_USAGE.prompt_tokens, completion_tokens: STREAM_USAGE.completion_tokens })]);
      expect(seen).not.toMatch(/"usage":\{/);
    });

    it('stays healthy after every failure', async () => {
      expect((await call('GET', `${ts.url}/healthz`)).status).toBe(200);
      expect((await sdk.chat.completions.create({ model: 'test-model', messages: [] })).usage).toEqual(USAGE);
    });
  });

  describe('a client that disconnects mid-stream', () => {
    it('is read on for its usage up to UPSTREAM_TIMEOUT, then cut and charged an estimate (no budget: the prompt estimate and the text read ÷ 2)', async () => {
      const appBody = { model: 'slow-stream', messages: [], stream: true };
      const aborted = up.nextAbort();
      await new Promise<void>((resolve, reject) => {
        const request = httpRequest(`${ts.api}/oauth/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        request.on('response', (response) => {
          expect(response.headers['content-type']).toContain('text/event-stream');
          response.once('data', () => {
            request.destroy();
            resolve();
          });
        });
        request.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
        request.end(JSON.stringify(appBody));
      });
      // The slow stream takes 2.4 s; Serika reads on for UPSTREAM_TIMEOUT (1 s), then ends the upstream call.
      const seen = await aborted;
      expect(seen.body.model).toBe('slow-stream');
      const row = await until(
        async () => {
          const last = (await usageRows()).at(-1);
          return last?.model === 'slow-stream' && last;
        },
        { message: "the slow stream's usage row" },
      );
      expect(row).toMatchObject({ status: 499, prompt_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(appBody)) / 2) });
      // At least the first word ('one'), at most all eight.
      expect(row.completion_tokens).toBeGreaterThanOrEqual(2);
      expect(row.completion_tokens).toBeLessThanOrEqual(Math.ceil('one two three four five six seven eight'.length / 2));
    });
  });

  describe('a client that disconnects while the upstream is still thinking', () => {
    it('aborts the upstream request before its answer, and is charged nothing', async () => {
      const aborted = up.nextAbort();
      const before = up.received.length;
      const request = httpRequest(`${ts.api}/oauth/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
      request.on('error', () => undefined);
      request.end(JSON.stringify({ model: 'slow', messages: [] }));
      // Gone once the upstream has the call (it answers 'slow' after 3 s).
      await until(() => up.received.length > before, { intervalMs: 10, message: 'the upstream to receive the call' });
      request.destroy();
      const seen = await aborted;
      expect(seen.body.model).toBe('slow');
      await until(async () => (await usageRows()).at(-1)?.status === 499, { message: 'a usage row with status 499' });
      expect((await usageRows()).at(-1)).toMatchObject({ status: 499, prompt_tokens: 0, completion_tokens: 0 });
    });
  });

  describe('the same routes with an API key', () => {
    it('serve chat, images, models and report GET /usage with clientId null for API-key calls', async () => {
      const keyed = new OpenAI({ apiKey: user.key, baseURL: ts.api, maxRetries: 0 });
      expect((await keyed.chat.completions.create({ model: 'test-model', messages: [] })).usage).toEqual(USAGE);
      expect((await keyed.images.generate({ model: 'img', prompt: 'x', n: 1 })).data).toHaveLength(1);
      expect((await keyed.models.list()).data).toHaveLength(1);
      const usage = await call('GET', `${ts.api}/usage`, { key: user.key });
      expect(usage.status).toBe(200);
      expect(usage.json.object).toBe('list');
      const today = new Date().toISOString().slice(0, 10);
      const keyRow = usage.json.data.find((r: any) => r.clientId === null);
      expect(keyRow).toEqual({ date: today, clientId: null, clientName: null, promptTokens: 11 + 9, completionTokens: 7 + 100, images: 1, requests: 2 });
      const appRow = usage.json.data.find((r: any) => r.clientId === clientId);
      expect(appRow).toMatchObject({ date: today, clientName: 'Generation App' });
      // Calls that succeeded or were charged (the stream the app left): every failure above is absent from the totals.
      const rows = await usageRows();
      const ok = rows.filter((r) => r.client_id === clientId && (r.status === 200 || r.prompt_tokens + r.completion_tokens > 0));
      expect(ok.some((r) => r.status === 499)).toBe(true);
      expect(appRow.requests).toBe(ok.length);
      expect(appRow.promptTokens).toBe(ok.reduce((n, r) => n + r.prompt_tokens, 0));
      expect(appRow.completionTokens).toBe(ok.reduce((n, r) => n + r.completion_tokens, 0));
      expect(JSON.stringify(usage.json)).not.toContain(UPSTREAM_KEY);
    });

    it('never sends the API key upstream', async () => {
      expect(up.received.every((r) => !JSON.stringify(r.headers).includes(user.key))).toBe(true);
    });
  });
});

describe('generation without an upstream, or with one that is down', () => {
  it('answers 503 naming UPSTREAM_BASE_URL when none is configured', async () => {
    const ts = await startTestServer('sqlite');
    try {
      const { user, agent } = await userWithSession(ts);
      const client = await clientWithAllScopes(ts, user);
      const token = (await accessTokenFor(ts, agent, client, 'generations')).access_token;
      const sdk = new OpenAI({ apiKey: token, baseURL: `${ts.api}/oauth`, maxRetries: 0 });
      const error = (await sdk.chat.completions.create({ model: 'm', messages: [] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error.status).toBe(503);
      expect(error.message).toContain('UPSTREAM_BASE_URL');
      expect((await sdk.models.list().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>).toMatchObject({ status: 503 });
    } finally {
      await ts.close();
    }
  });

  it('answers 502 when nothing listens at the upstream address', async () => {
    const ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', UPSTREAM_TIMEOUT: '2' });
    try {
      const { user } = await userWithSession(ts);
      const sdk = new OpenAI({ apiKey: user.key, baseURL: ts.api, maxRetries: 0 });
      for (const attempt of [
        () => sdk.chat.completions.create({ model: 'm', messages: [] }),
        () => sdk.chat.completions.create({ model: 'm', messages: [], stream: true }),
        () => sdk.models.list(),
      ]) {
        const error = (await attempt().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
        expect(error.status).toBe(502);
      }
      expect((await call('GET', `${ts.url}/readyz`)).status).toBe(200);
    } finally {
      await ts.close();
    }
  });
});
