import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { RESPONSE_USAGE, EMBEDDING_USAGE } from '../helpers/fake-responses.js';
import type { FakeUpstream } from '../helpers/fake-upstream.js';
import { call, type Seeded, type TestServer } from '../helpers/server.js';
import { startGenerationApp, type GenerationApp } from '../helpers/tokens.js';

/** SPEC §14 with §10: the Responses API budgeted with max_output_tokens as the cap, embeddings on their input. */
describe.each(DIALECTS)('budgets on responses and embeddings (%s)', (dialect) => {
  let app: GenerationApp;
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let clientId: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    app = await startGenerationApp(dialect, `respend_${dialect}`, 'Budget App');
    ({ ts, up, owner, clientId } = app);
  });
  afterAll(async () => app?.close());

  const post = (path: string, body: Record<string, unknown>) => call('POST', `${ts.api}/oauth${path}`, { key: app.token, json: body });
  const respond = (body: Record<string, unknown>) => post('/responses', { model: 'test-model', input: 'hi', ...body });
  const upstreamCalls = (path = '/v1/responses') => up.received.filter((r) => r.path === path).length;
  const limit = async (tokens: number, period: 'day' | 'month' | 'total' = 'month') => {
    await ts.services.budgets.set(owner.userId, clientId, null);
    await ts.services.budgets.set(owner.userId, clientId, { tokens, images: null, period });
  };
  const estimate = (body: Record<string, unknown>) => Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 2);

  describe.skipIf(!dialectAvailable(dialect))('responses', () => {
    it('sends max_output_tokens = what remains when the app sent none, lowers the one it sent, and reports what remains', async () => {
      await limit(1_000);
      const none = await respond({});
      expect(none.status).toBe(200);
      const sent = up.received.at(-1)!.body;
      expect(sent.max_output_tokens).toBe(1_000 - estimate({ model: 'test-model', input: 'hi' }));
      expect(none.headers.get('serika-budget-remaining-tokens')).toBe(String(1_000 - RESPONSE_USAGE.input_tokens - RESPONSE_USAGE.output_tokens));
      const capped = await respond({ max_output_tokens: 50_000 });
      expect(capped.status).toBe(200);
      expect(up.received.at(-1)!.body.max_output_tokens).toBeLessThan(1_000);
      expect(up.received.at(-1)!.body).not.toHaveProperty('max_tokens');
      const small = await respond({ max_output_tokens: 20 });
      expect(small.status).toBe(200);
      expect(up.received.at(-1)!.body.max_output_tokens).toBe(20);
    });

    it('50 parallel calls (half streamed) never spend past the limit; refused ones never reach the upstream; the usage table agrees', async () => {
      await limit(10_000, 'day');
      const before = upstreamCalls();
      const usageBefore = await call('GET', `${ts.api}/usage`, { key: owner.key });
      const rowBefore = usageBefore.json.data.find((r: { clientId: string }) => r.clientId === clientId) ?? { promptTokens: 0, completionTokens: 0 };
      // 'greedy' spends its whole cap: 50 × (a few + 600) tokens asked against a limit of 10,000.
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => respond({ model: 'greedy', max_output_tokens: 600, ...(i % 2 ? { stream: true } : {}) })));
      const ok = replies.filter((r) => r.status === 200);
      const refused = replies.filter((r) => r.status === 429);
      expect(ok.length + refused.length).toBe(50);
      expect(refused.length).toBeGreaterThan(0);
      expect(ok.filter((r) => r.text.includes('response.completed')).length).toBeGreaterThan(0);
      expect(upstreamCalls() - before).toBe(ok.length);
      for (const r of refused) {
        expect(r.headers.get('x-should-retry')).toBe('false');
        expect(r.json.error).toMatchObject({ type: 'insufficient_quota', code: 'app_budget_exceeded', param: null });
      }
      const state = (await ts.services.budgets.get(owner.userId, clientId))!;
      expect(state.tokensReserved).toBe(0);
      expect(state.tokensUsed).toBeLessThanOrEqual(10_000);
      expect(state.tokensUsed).toBeGreaterThan(10_000 - 700);
      const usage = await call('GET', `${ts.api}/usage`, { key: owner.key });
      const row = usage.json.data.find((r: { clientId: string }) => r.clientId === clientId);
      expect(row.promptTokens + row.completionTokens - rowBefore.promptTokens - rowBefore.completionTokens).toBe(state.tokensUsed);
    });

    it('the response a call continues counts in its prompt: what does not fit is refused before the upstream', async () => {
      await limit(100_000);
      const first = await respond({ model: 'greedy', max_output_tokens: 2_000 });
      expect(first.status).toBe(200);
      const context = first.json.usage.total_tokens as number;
      expect(context).toBeGreaterThan(2_000);
      await limit(1_500);
      const before = upstreamCalls();
      const next = await respond({ previous_response_id: first.json.id, max_output_tokens: 16 });
      expect(next.status).toBe(429);
      expect(upstreamCalls()).toBe(before);
      await limit(context + 500);
      expect((await respond({ previous_response_id: first.json.id, max_output_tokens: 16 })).status).toBe(200);
    });

    it('refuses with a 400 what nothing bounds under a limit: hosted tools, files, stored prompts', async () => {
      await limit(100_000);
      const before = upstreamCalls();
      const tool = await respond({ tools: [{ type: 'web_search' }] });
      expect(tool.status).toBe(400);
      expect(tool.json.error.param).toBe('tools[0]');
      const file = await respond({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file_1' }] }] });
      expect(file.status).toBe(400);
      expect(file.json.error.param).toBe('input[0].content[0]');
      // A stored prompt is expanded upstream: its text is not in the bytes the estimate counts.
      const stored = await respond({ prompt: { id: 'pmpt_1', variables: { topic: 'x' } } });
      expect(stored.status).toBe(400);
      expect(stored.json.error.param).toBe('prompt');
      expect(upstreamCalls()).toBe(before);
      // Function tools and images are bounded.
      expect((await respond({ tools: [{ type: 'function', name: 'f', parameters: {} }], input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://img.example/a.png', detail: 'low' }] }] })).status).toBe(200);
    });

    it('the openai SDK sees RateLimitError app_budget_exceeded, streamed or not, and does not retry', async () => {
      await limit(5, 'total');
      let requests = 0;
      const counting = new OpenAI({ baseURL: `${ts.api}/oauth`, apiKey: app.token, maxRetries: 2, fetch: (url, init) => ((requests += 1), fetch(url, init)) });
      for (const stream of [false, true]) {
        const error = await counting.responses.create({ model: 'test-model', input: 'hello there', stream }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      }
      expect(requests).toBe(2);
    });

    it('upstream failures return the hold: nothing is charged', async () => {
      await limit(50_000);
      expect((await respond({ model: 'fail-500' })).status).toBe(502);
      expect((await respond({ model: 'garbage' })).status).toBe(502);
      expect((await respond({ model: 'drop-stream', stream: true })).text).toContain('"error"');
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: 0, tokensReserved: 0 });
    });

    it('an answer without usage is charged the whole reservation', async () => {
      await limit(50_000);
      const body = { model: 'no-usage', input: 'hi', max_output_tokens: 70 };
      expect((await post('/responses', body)).status).toBe(200);
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: estimate(body) + 70, tokensReserved: 0 });
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('embeddings', () => {
    it('reserve the estimate of their input, settle to usage.prompt_tokens, and are refused past the limit', async () => {
      await limit(1_000);
      const body = { model: 'embed-model', input: 'x'.repeat(200) };
      const reply = await post('/embeddings', body);
      expect(reply.status).toBe(200);
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: EMBEDDING_USAGE.prompt_tokens, tokensReserved: 0 });
      expect(reply.headers.get('serika-budget-remaining-tokens')).toBe(String(1_000 - EMBEDDING_USAGE.prompt_tokens));
      const before = upstreamCalls('/v1/embeddings');
      const big = await post('/embeddings', { model: 'embed-model', input: 'x'.repeat(4_000) });
      expect(big.status).toBe(429);
      expect(big.json.error.message).toContain(`this call needs up to ${estimate({ model: 'embed-model', input: 'x'.repeat(4_000) }).toLocaleString('en-US')}.`);
      expect(upstreamCalls('/v1/embeddings')).toBe(before);
    });
  });
});
