import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { EMBEDDING_USAGE, RESPONSE_USAGE } from '../helpers/fake-responses.js';
import type { FakeUpstream } from '../helpers/fake-upstream.js';
import { pruneOnce } from '../../src/pruner.js';
import { userWithSession } from '../helpers/oauth.js';
import { call, type Seeded, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes, startGenerationApp, type GenerationApp } from '../helpers/tokens.js';

const UPSTREAM_KEY = 'sk-upstream-responses';
type APIError = InstanceType<typeof OpenAI.APIError>;

/** SPEC §14: the Responses API and embeddings through the openai SDK unchanged, each response its maker's alone. */
describe.each(DIALECTS)('responses and embeddings (%s)', (dialect) => {
  let app: GenerationApp;
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let clientId: string;
  /** The owner's app, through its access token. */
  let sdk: OpenAI;
  /** Another app of the same user. */
  let otherApp: OpenAI;
  /** The same user's API key. */
  let keyed: OpenAI;
  /** Another user, through the first app. */
  let stranger: OpenAI;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    app = await startGenerationApp(dialect, `responses_${dialect}`, 'Responses App', { UPSTREAM_API_KEY: UPSTREAM_KEY, UPSTREAM_TIMEOUT: '1' });
    ({ ts, up, owner, clientId } = app);
    const oauth = `${ts.api}/oauth`;
    sdk = new OpenAI({ apiKey: app.token, baseURL: oauth, maxRetries: 0 });
    const second = await clientWithAllScopes(ts, owner, 'Second App');
    otherApp = new OpenAI({ apiKey: (await accessTokenFor(ts, app.agent, second, 'generations')).access_token, baseURL: oauth, maxRetries: 0 });
    keyed = new OpenAI({ apiKey: owner.key, baseURL: ts.api, maxRetries: 0 });
    const other = await userWithSession(ts, `stranger_${dialect}`);
    const strangerClient = await clientWithAllScopes(ts, other.user, 'Stranger App');
    stranger = new OpenAI({ apiKey: (await accessTokenFor(ts, other.agent, strangerClient, 'generations')).access_token, baseURL: oauth, maxRetries: 0 });
  });
  afterAll(async () => app?.close());

  const rowsOf = (endpoint: string) =>
    ts.services.storage.db.selectFrom('usage_records').selectAll().where('user_id', '=', owner.userId).where('endpoint', '=', endpoint).orderBy('created_at', 'asc').execute();
  const ownerRow = (id: string) => ts.services.storage.db.selectFrom('response_owners').selectAll().where('response_id', '=', id).executeTakeFirst();
  /** Every request the upstream was sent that names `id`. */
  const askedAbout = (id: string) => up.received.filter((r) => r.path.includes(id) || JSON.stringify(r.body ?? {}).includes(id));

  describe.skipIf(!dialectAvailable(dialect))('the Responses API', () => {
    it('responses.create: passed to the upstream with Serika’s key, metered, and recorded as this user’s and app’s', async () => {
      const response = await sdk.responses.create({ model: 'test-model', input: 'Say hello' });
      expect(response.output_text).toBe('Hello from upstream');
      expect(response.usage).toMatchObject(RESPONSE_USAGE);
      const seen = up.received.at(-1)!;
      expect(seen).toMatchObject({ method: 'POST', path: '/v1/responses', body: { model: 'test-model', input: 'Say hello' } });
      expect(seen.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect((await rowsOf('responses')).at(-1)).toMatchObject({ status: 200, prompt_tokens: RESPONSE_USAGE.input_tokens, completion_tokens: RESPONSE_USAGE.output_tokens, client_id: clientId });
      expect(await ownerRow(response.id)).toMatchObject({ user_id: owner.userId, client_id: clientId, api_key_id: null, context_tokens: RESPONSE_USAGE.input_tokens + RESPONSE_USAGE.output_tokens });
    });

    it('streams response.* events whole (response.completed with its usage), the usage committed before response.completed reaches the app', async () => {
      const stream = await sdk.responses.create({ model: 'linger-stream', input: 'Say hello', stream: true });
      const types: string[] = [];
      let rowsAtCompleted: Awaited<ReturnType<typeof rowsOf>> = [];
      let completedId = '';
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.completed') {
          rowsAtCompleted = (await rowsOf('responses')).filter((r) => r.model === 'linger-stream');
          completedId = event.response.id;
          expect(event.response.usage).toMatchObject(RESPONSE_USAGE);
        }
      }
      expect(types[0]).toBe('response.created');
      expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(3);
      expect(types.at(-1)).toBe('response.completed');
      expect(rowsAtCompleted).toEqual([expect.objectContaining({ status: 200, prompt_tokens: RESPONSE_USAGE.input_tokens, completion_tokens: RESPONSE_USAGE.output_tokens })]);
      expect(await ownerRow(completedId)).toMatchObject({ user_id: owner.userId, client_id: clientId });
      expect(up.received.at(-1)!.body.stream).toBe(true);
    });

    it('an unbudgeted answer without usage is charged the estimate of its body, of the response it continues and of its text', async () => {
      const first = await keyed.responses.create({ model: 'test-model', input: 'one' });
      const body = { model: 'no-usage', input: 'two', previous_response_id: first.id };
      await keyed.responses.create(body);
      const context = RESPONSE_USAGE.input_tokens + RESPONSE_USAGE.output_tokens;
      expect((await rowsOf('responses')).at(-1)).toMatchObject({
        model: 'no-usage',
        prompt_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 2) + context,
        completion_tokens: Math.ceil('Hello from upstream'.length / 2),
      });
    });

    it('a response made with store: false has no owner row (nothing could retrieve or continue it)', async () => {
      const response = await sdk.responses.create({ model: 'test-model', input: 'forget me', store: false });
      expect(response.output_text).toBe('Hello from upstream');
      expect(await ownerRow(response.id)).toBeUndefined();
      expect((await rowsOf('responses')).at(-1)).toMatchObject({ status: 200, prompt_tokens: RESPONSE_USAGE.input_tokens });
    });

    it('responses.retrieve and responses.delete of its own are passed on; a deleted one is no longer anyone’s', async () => {
      const made = await sdk.responses.create({ model: 'test-model', input: 'keep me' });
      const retrieved = await sdk.responses.retrieve(made.id);
      expect(retrieved.id).toBe(made.id);
      expect(up.received.at(-1)).toMatchObject({ method: 'GET', path: `/v1/responses/${made.id}` });
      const items = await sdk.responses.inputItems.list(made.id, { limit: 5 });
      expect(items.data).toHaveLength(1);
      expect(up.received.at(-1)).toMatchObject({ method: 'GET', path: `/v1/responses/${made.id}/input_items?limit=5` });
      await sdk.responses.delete(made.id);
      expect(up.received.at(-1)).toMatchObject({ method: 'DELETE', path: `/v1/responses/${made.id}` });
      expect(await ownerRow(made.id)).toBeUndefined();
      const asked = up.received.length;
      expect(((await sdk.responses.retrieve(made.id).catch((e: unknown) => e)) as APIError).status).toBe(404);
      expect(up.received.length).toBe(asked);
    });

    it('continues its own response with previous_response_id, whose tokens count in the prompt', async () => {
      const first = await sdk.responses.create({ model: 'test-model', input: 'one' });
      const second = await sdk.responses.create({ model: 'test-model', input: 'two', previous_response_id: first.id });
      expect(second.previous_response_id).toBe(first.id);
      expect(up.received.at(-1)!.body.previous_response_id).toBe(first.id);
    });

    it('another app’s, another user’s, or the API key’s response is 404 at retrieve, delete and previous_response_id, never asked upstream', async () => {
      const mine = await sdk.responses.create({ model: 'test-model', input: 'mine' });
      const byKey = await keyed.responses.create({ model: 'test-model', input: 'by key' });
      expect(await ownerRow(byKey.id)).toMatchObject({ user_id: owner.userId, client_id: null, api_key_id: expect.any(String) });
      const attempts: Array<[OpenAI, string]> = [
        [otherApp, mine.id],
        [stranger, mine.id],
        [keyed, mine.id],
        [sdk, byKey.id],
        [sdk, 'resp_never_made_by_anyone'],
      ];
      for (const [client, id] of attempts) {
        const before = askedAbout(id).length;
        for (const attempt of [
          () => client.responses.retrieve(id),
          () => client.responses.inputItems.list(id),
          () => client.responses.delete(id),
          () => client.responses.create({ model: 'test-model', input: 'steal', previous_response_id: id }),
          () => client.responses.create({ model: 'test-model', input: 'steal', previous_response_id: id, stream: true }),
        ]) {
          const error = (await attempt().catch((e: unknown) => e)) as APIError;
          expect(error).toBeInstanceOf(OpenAI.NotFoundError);
          expect(error.message).toContain('not found');
        }
        expect(askedAbout(id).length).toBe(before);
      }
      // Still there for their makers.
      expect((await sdk.responses.retrieve(mine.id)).id).toBe(mine.id);
      expect((await keyed.responses.retrieve(byKey.id)).id).toBe(byKey.id);
    });

    it('refuses what Serika cannot attribute or charge: background responses, conversations, item references', async () => {
      const before = up.received.length;
      for (const body of [
        { background: true },
        { conversation: 'conv_123' },
        { input: [{ type: 'item_reference', id: 'msg_123' }] },
      ]) {
        const error = (await sdk.responses.create({ model: 'test-model', input: 'x', ...body } as never).catch((e: unknown) => e)) as APIError;
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      }
      expect(up.received.length).toBe(before);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('embeddings', () => {
    it('embeddings.create (the SDK asks base64 and decodes it), metered on prompt tokens', async () => {
      const result = await sdk.embeddings.create({ model: 'embed-model', input: ['one', 'two'] });
      expect(result.data.map((d) => d.embedding)).toEqual([
        [0.25, -0.5, 1],
        [0.25, -0.5, 1],
      ]);
      expect(up.received.at(-1)).toMatchObject({ path: '/v1/embeddings', body: { model: 'embed-model', input: ['one', 'two'] } });
      expect((await rowsOf('embeddings')).at(-1)).toMatchObject({ status: 200, prompt_tokens: EMBEDDING_USAGE.prompt_tokens, completion_tokens: 0, client_id: clientId });
      const byKey = await keyed.embeddings.create({ model: 'embed-model', input: 'three', encoding_format: 'float' });
      expect(byKey.data[0]!.embedding).toEqual([0.25, -0.5, 1]);
      expect((await rowsOf('embeddings')).at(-1)).toMatchObject({ prompt_tokens: EMBEDDING_USAGE.prompt_tokens, client_id: null });
    });

    it('appear on the usage page and in GET /usage with the app’s other calls', async () => {
      const usage = await call('GET', `${ts.api}/usage`, { key: owner.key });
      const rows = (await ts.services.storage.db.selectFrom('usage_records').selectAll().where('client_id', '=', clientId).where('status', '=', 200).execute());
      const appRow = usage.json.data.find((r: { clientId: string | null }) => r.clientId === clientId);
      expect(appRow.promptTokens).toBe(rows.reduce((n, r) => n + r.prompt_tokens, 0));
      expect(rows.some((r) => r.endpoint === 'embeddings') && rows.some((r) => r.endpoint === 'responses')).toBe(true);
      // The dashboard's Usage page: one row per day for the app, its tokens those of every counted call that day.
      const page = await (await app.agent.fetch('/dashboard/usage')).text();
      const format = (n: number) => n.toLocaleString('en-US');
      for (const day of new Set(rows.map((r) => r.day))) {
        const ofDay = rows.filter((r) => r.day === day);
        const prompt = ofDay.reduce((n, r) => n + r.prompt_tokens, 0);
        const completion = ofDay.reduce((n, r) => n + r.completion_tokens, 0);
        expect(page).toContain(`<tr><td>${day}</td><td>Responses App</td><td class="num">${format(prompt)}</td><td class="num">${format(completion)}</td>`);
      }
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('upstream faults, as SPEC §5 says for chat: charged nothing', () => {
    it.each([
      ['fail-500', 502],
      ['unauthorized', 502],
      ['garbage', 502],
      ['drop', 502],
      ['slow', 504],
      ['no-such-model', 404],
    ] as const)('upstream %s reaches the SDK as %i, for responses and embeddings', async (model, status) => {
      for (const [endpoint, attempt] of [
        ['responses', () => sdk.responses.create({ model, input: 'x' })],
        ['embeddings', () => sdk.embeddings.create({ model, input: 'x' })],
      ] as const) {
        const before = (await rowsOf(endpoint)).length;
        const error = (await attempt().catch((e: unknown) => e)) as APIError;
        expect(error).toBeInstanceOf(OpenAI.APIError);
        expect(error.status).toBe(status);
        expect(JSON.stringify(error.error)).not.toContain(UPSTREAM_KEY);
        const rows = await rowsOf(endpoint);
        expect(rows.length).toBe(before + 1);
        expect(rows.at(-1)).toMatchObject({ status, prompt_tokens: 0, completion_tokens: 0 });
      }
    });

    it('a streamed response the upstream drops, or that stalls past UPSTREAM_TIMEOUT, ends with an error event, charged nothing', async () => {
      for (const [model, status] of [
        ['drop-stream', 502],
        ['stall-stream', 504],
      ] as const) {
        const stream = await sdk.responses.create({ model, input: 'x', stream: true });
        const error = await (async () => {
          for await (const _ of stream) {
            /* drain */
          }
        })().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OpenAI.APIError);
        expect((await rowsOf('responses')).filter((r) => r.model === model)).toEqual([expect.objectContaining({ status, prompt_tokens: 0, completion_tokens: 0 })]);
      }
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('a credential on the wrong base path', () => {
    it('an access token on /responses or /embeddings, an API key on /oauth/…: 401 naming the base URL it belongs under', async () => {
      const api = `${ts.config.publicUrl}/api/openai/v1`;
      const body = { model: 'test-model', input: 'hi' };
      for (const path of ['/responses', '/embeddings', '/responses/resp_1']) {
        const method = path === '/responses/resp_1' ? 'GET' : 'POST';
        const tokenOnKeyPath = await call(method, `${api}${path}`, { key: app.token, ...(method === 'POST' ? { json: body } : {}) });
        expect(tokenOnKeyPath.status).toBe(401);
        expect(tokenOnKeyPath.json.error.message).toContain(`belongs under ${api}/oauth`);
        const keyOnTokenPath = await call(method, `${api}/oauth${path}`, { key: owner.key, ...(method === 'POST' ? { json: body } : {}) });
        expect(keyOnTokenPath.status).toBe(401);
        expect(keyOnTokenPath.json.error.message).toContain(`belongs under ${api} (without /oauth)`);
      }
    });
  });

  // Last: the pruner, a month on, ends this suite's tokens as well.
  describe.skipIf(!dialectAvailable(dialect))('pruning', () => {
    it('forgets who made a response once the upstream keeps it no longer (30 days)', async () => {
      const made = await sdk.responses.create({ model: 'test-model', input: 'old' });
      const later = (days: number) => ({ ...ts.services, now: () => Date.now() + days * 86_400_000 });
      expect((await pruneOnce(later(29)))!.responseOwners).toBe(0);
      expect(await ownerRow(made.id)).toBeDefined();
      expect((await pruneOnce(later(31)))!.responseOwners).toBeGreaterThanOrEqual(1);
      expect(await ownerRow(made.id)).toBeUndefined();
    });
  });
});

describe('responses and embeddings without an upstream', () => {
  it('answer 503 naming UPSTREAM_BASE_URL, charged nothing', async () => {
    const { startTestServer } = await import('../helpers/server.js');
    const ts = await startTestServer('sqlite');
    try {
      const { user } = await userWithSession(ts);
      const keyed = new OpenAI({ apiKey: user.key, baseURL: ts.api, maxRetries: 0 });
      for (const attempt of [() => keyed.responses.create({ model: 'm', input: 'x' }), () => keyed.responses.create({ model: 'm', input: 'x', stream: true }), () => keyed.embeddings.create({ model: 'm', input: 'x' })]) {
        const error = (await attempt().catch((e: unknown) => e)) as APIError;
        expect(error.status).toBe(503);
        expect(error.message).toContain('UPSTREAM_BASE_URL');
      }
      const rows = await ts.services.storage.db.selectFrom('usage_records').selectAll().where('user_id', '=', user.userId).execute();
      expect(rows.every((r) => r.prompt_tokens === 0 && r.completion_tokens === 0)).toBe(true);
    } finally {
      await ts.close();
    }
  });
});
