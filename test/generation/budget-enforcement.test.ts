import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { USAGE, type FakeUpstream } from '../helpers/fake-upstream.js';
import { hiddenField, type Agent } from '../helpers/oauth.js';
import { call, type Seeded, startInstance, type TestServer } from '../helpers/server.js';
import { startGenerationApp, type GenerationApp } from '../helpers/tokens.js';
import { until } from '../helpers/until.js';

/** SPEC §10 enforcement in the gateway: reserve before the upstream, settle after, 429 when it cannot fit. */
describe.each(DIALECTS)('budget enforcement (%s)', (dialect) => {
  let app: GenerationApp;
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let token: string;
  let clientId: string;
  let agent: Agent;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    app = await startGenerationApp(dialect, `spend_${dialect}`, 'Budget App');
    ({ ts, up, owner, token, clientId, agent } = app);
  });
  afterAll(async () => app?.close());

  const chat = (body: Record<string, unknown>, auth = token) =>
    call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${auth}` }, json: { model: 'test-model', messages: [{ role: 'user', content: 'hi' }], ...body } });
  /** SPEC §10's prompt estimate of the body the app sent: its UTF-8 bytes ÷ 2, rounded up. */
  const estimate = (body: Record<string, unknown>) => Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 2);
  const upstreamCalls = () => up.received.filter((r) => r.path === '/v1/chat/completions').length;

  describe.skipIf(!dialectAvailable(dialect))('chat', () => {
    it('sets max_tokens to what remains when the app sent none, lowers the one it sent, and reports what remains', async () => {
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const before = upstreamCalls();
      const none = await chat({});
      expect(none.status).toBe(200);
      const sent = up.received.filter((r) => r.path === '/v1/chat/completions').at(-1)!;
      expect(sent.body.max_tokens).toBeLessThan(1_000);
      expect(sent.body.max_tokens).toBeGreaterThan(900);
      expect(none.headers.get('serika-budget-remaining-tokens')).toBe(String(1_000 - USAGE.prompt_tokens - USAGE.completion_tokens));
      const capped = await chat({ max_completion_tokens: 50_000 });
      expect(capped.status).toBe(200);
      const second = up.received.filter((r) => r.path === '/v1/chat/completions').at(-1)!;
      expect(second.body.max_completion_tokens).toBeLessThan(1_000);
      expect(second.body).not.toHaveProperty('max_tokens');
      expect(upstreamCalls()).toBe(before + 2);
    });

    it('50 parallel calls (half streamed) never spend past the limit; refused ones never reach the upstream; the usage table agrees', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 10_000, images: null, period: 'day' });
      const before = upstreamCalls();
      const usageBefore = await call('GET', `${ts.api}/usage`, { key: owner.key });
      const rowBefore = usageBefore.json.data.find((r: { clientId: string }) => r.clientId === clientId) ?? { promptTokens: 0, completionTokens: 0, requests: 0 };
      // 'greedy' spends its whole cap: 50 × (8 + 600) = 30,400 tokens asked against a limit of 10,000.
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => chat({ model: 'greedy', max_tokens: 600, ...(i % 2 ? { stream: true } : {}) })));
      const ok = replies.filter((r) => r.status === 200);
      const refused = replies.filter((r) => r.status === 429);
      expect(ok.length + refused.length).toBe(50);
      expect(refused.length).toBeGreaterThan(0);
      expect(upstreamCalls() - before).toBe(ok.length);
      for (const r of refused) {
        expect(r.headers.get('x-should-retry')).toBe('false');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(r.json.error).toMatchObject({ type: 'insufficient_quota', code: 'app_budget_exceeded', param: null });
        expect(r.json.error.message).toMatch(/^Budget App has used the daily limit of 10,000 tokens that you set for it\..*\/dashboard\/apps\.$/);
      }
      const state = (await ts.services.budgets.get(owner.userId, clientId))!;
      expect(state.tokensReserved).toBe(0);
      expect(state.tokensUsed).toBeLessThanOrEqual(10_000);
      // Every call that ran spent up to its (possibly lowered) cap; together they stayed within the limit.
      expect(state.tokensUsed).toBeGreaterThan(10_000 - 700);
      const usage = await call('GET', `${ts.api}/usage`, { key: owner.key });
      const row = usage.json.data.find((r: { clientId: string }) => r.clientId === clientId);
      expect(row.promptTokens + row.completionTokens - rowBefore.promptTokens - rowBefore.completionTokens).toBe(state.tokensUsed);
    });

    it('the openai SDK sees RateLimitError app_budget_exceeded and does not retry', async () => {
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 5, images: null, period: 'total' });
      const before = upstreamCalls();
      const openai = new OpenAI({ baseURL: `${ts.api}/oauth`, apiKey: token, maxRetries: 2 });
      let serikaRequests = 0;
      const counting = new OpenAI({ baseURL: `${ts.api}/oauth`, apiKey: token, maxRetries: 2, fetch: (url, init) => ((serikaRequests += 1), fetch(url, init)) });
      const error = await counting.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'hello there' }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect((error as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('app_budget_exceeded');
      expect(serikaRequests).toBe(1);
      expect(upstreamCalls()).toBe(before);
      expect(openai).toBeTruthy();
    });

    it('settles after upstream failures: the hold is returned, nothing is charged (streams the app leaves: unfinished-streams.test.ts)', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 50_000, images: null, period: 'month' });
      expect((await chat({ model: 'fail-500' })).status).toBe(502);
      expect((await chat({ model: 'garbage' })).status).toBe(502);
      expect((await chat({ model: 'drop-stream', stream: true })).text).toContain('"error"');
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: 0, tokensReserved: 0, tokensRemaining: 50_000 });
    });

    it('an answer without usage is charged the whole reservation', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 50_000, images: null, period: 'month' });
      const body = { model: 'no-usage', messages: [{ role: 'user', content: 'hi' }], max_tokens: 70 };
      expect((await chat(body)).status).toBe(200);
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: estimate(body) + 70, tokensReserved: 0 });
    });

    it('n choices reserve the cap n times: the cap is what remains shared among them', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      // Issue 30: n: 50, max_tokens: 100 against 1,000 tokens was answered 200 with 5,010 spent.
      const body = { model: 'greedy', messages: [{ role: 'user', content: 'hi' }], n: 50, max_tokens: 100 };
      const reply = await chat(body);
      expect(reply.status).toBe(200);
      const cap = Math.floor((1_000 - estimate(body)) / 50);
      expect(up.received.at(-1)!.body).toMatchObject({ n: 50, max_tokens: cap });
      const state = (await ts.services.budgets.get(owner.userId, clientId))!;
      expect(state.tokensUsed).toBeLessThanOrEqual(1_000);
      expect(state.tokensUsed).toBeGreaterThan(cap * 50);
      // Both caps the app sent are lowered (an upstream may honour either); n too large to fit even 1 each: 429.
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      expect((await chat({ model: 'test-model', n: 4, max_tokens: 10, max_completion_tokens: 5_000 })).status).toBe(200);
      expect(up.received.at(-1)!.body).toMatchObject({ max_tokens: 10, max_completion_tokens: expect.any(Number) });
      expect(up.received.at(-1)!.body.max_completion_tokens).toBeLessThan(1_000 / 4);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 100, images: null, period: 'month' });
      const before = upstreamCalls();
      const wide = { model: 'test-model', messages: [{ role: 'user', content: 'hi' }], n: 128 };
      const refused = await chat(wide);
      expect(refused.status).toBe(429);
      expect(refused.json.error.message).toContain(`this call needs up to ${(estimate(wide) + 4096 * 128).toLocaleString('en-US')}.`);
      expect(upstreamCalls()).toBe(before);
    });

    it.each([
      ['n', { n: 2.5 }],
      ['n', { n: 0 }],
      ['n', { n: 1_000 }],
      ['n', { n: '3' }],
      ['max_tokens', { max_tokens: '5000' }],
      ['max_completion_tokens', { max_completion_tokens: 10.5 }],
    ] as const)('what cannot be bounded is refused before the upstream: 400 naming %s (%j)', async (param, extra) => {
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const before = upstreamCalls();
      const reply = await chat(extra);
      expect(reply.status).toBe(400);
      expect(reply.json.error).toMatchObject({ type: 'invalid_request_error', param, code: 'invalid_value' });
      expect(reply.json.error.message).toContain(`'${param}'`);
      expect(upstreamCalls()).toBe(before);
      // The positive anchor: the same count sees a call that can be bounded.
      expect((await chat({ max_tokens: 10 })).status).toBe(200);
      expect(upstreamCalls()).toBe(before + 1);
    });

    it('the prompt estimate covers the whole body: a 200 KB tools description does not fit 1,000 tokens', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'day' });
      // Issue 30: it was answered 200 with 50,044 tokens spent.
      const tools = [{ type: 'function', function: { name: 'lookup', description: 'x'.repeat(200_000), parameters: { type: 'object', properties: {} } } }];
      const before = upstreamCalls();
      const body = { model: 'greedy', messages: [{ role: 'user', content: 'hi' }], tools };
      const reply = await chat(body);
      expect(reply.status).toBe(429);
      expect(upstreamCalls()).toBe(before);
      expect(reply.json.error.message).toContain(`It has 1,000 of its 1,000 tokens left today; this call needs up to ${(estimate(body) + 4096).toLocaleString('en-US')}.`);
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: 0, tokensReserved: 0 });
      // The positive anchor: the same count sees the call without the tools.
      expect((await chat({ model: 'greedy' })).status).toBe(200);
      expect(upstreamCalls()).toBe(before + 1);
    });

    it('the 429 says what remains and what the call needed, in SPEC §10\'s words', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 100, images: null, period: 'day' });
      expect((await chat({ max_tokens: 10 })).status).toBe(200);
      const left = 100 - USAGE.prompt_tokens - USAGE.completion_tokens;
      const body = { model: 'test-model', messages: [{ role: 'user', content: 'y'.repeat(200) }] };
      const reply = await chat(body);
      expect(reply.status).toBe(429);
      expect(reply.headers.get('x-should-retry')).toBe('false');
      expect(Number(reply.headers.get('retry-after'))).toBeGreaterThan(0);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      expect(reply.json.error).toEqual({
        message:
          `Budget App has used the daily limit of 100 tokens that you set for it. It has ${left} of its 100 tokens left today; ` +
          `this call needs up to ${(estimate(body) + 4096).toLocaleString('en-US')}. It resets on ${tomorrow} (UTC). You can raise it at ${ts.config.publicUrl}/dashboard/apps.`,
        type: 'insufficient_quota',
        code: 'app_budget_exceeded',
        param: null,
      });
    });

    it('API-key calls are never budgeted; removing the limit lets the app call again', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 100, images: null, period: 'day' });
      // The positive anchor: the app's own budgeted call carries the header the API-key call must not.
      const budgeted = await chat({ max_tokens: 10 });
      expect(budgeted.status).toBe(200);
      expect(budgeted.headers.get('serika-budget-remaining-tokens')).toBe(String(100 - USAGE.prompt_tokens - USAGE.completion_tokens));
      const keyed = await call('POST', `${ts.api}/chat/completions`, { key: owner.key, json: { model: 'test-model', messages: [{ role: 'user', content: 'hi' }] } });
      expect(keyed.status).toBe(200);
      expect(keyed.headers.get('serika-budget-remaining-tokens')).toBeNull();
      const tooLong = { messages: [{ role: 'user', content: 'y'.repeat(200) }] };
      expect((await chat(tooLong)).status).toBe(429);
      await ts.services.budgets.set(owner.userId, clientId, null);
      expect((await chat(tooLong)).status).toBe(200);
    });
  });

  if (dialect === 'postgres') {
    it.skipIf(!dialectAvailable(dialect))('two instances on one PostgreSQL share the limit: 50 calls split between them stay within it', async () => {
      const other = await startInstance(ts.database.url, { RATE_LIMIT_TOKEN: '0', UPSTREAM_BASE_URL: up.baseUrl, PUBLIC_URL: ts.config.publicUrl });
      try {
        await ts.services.budgets.set(owner.userId, clientId, null);
        await ts.services.budgets.set(owner.userId, clientId, { tokens: 10_000, images: null, period: 'day' });
        const before = upstreamCalls();
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            call('POST', `${i % 2 ? other.api : ts.api}/oauth/chat/completions`, {
              headers: { authorization: `Bearer ${token}` },
              json: { model: 'greedy', max_tokens: 600, messages: [{ role: 'user', content: 'hi' }], ...(i % 4 < 2 ? { stream: true } : {}) },
            }),
          ),
        );
        const ok = replies.filter((r) => r.status === 200).length;
        expect(replies.filter((r) => r.status === 429).length).toBe(50 - ok);
        expect(upstreamCalls() - before).toBe(ok);
        const state = (await ts.services.budgets.get(owner.userId, clientId))!;
        expect(state.tokensUsed).toBeLessThanOrEqual(10_000);
        // The other instance may keep its idle slice a second (budget-leases.ts, LEASE_IDLE_MS) before its rest goes back.
        await until(async () => (await ts.services.budgets.get(owner.userId, clientId))!.tokensReserved === 0, { timeoutMs: 3_000, message: "the other instance's slice to go back" });
      } finally {
        await other.close();
      }
    });
  }

  describe.skipIf(!dialectAvailable(dialect))('the dashboard', () => {
    it('shows spent / limit with the reset date, and a change applies to the next call', async () => {
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 5_000, images: null, period: 'month' });
      expect((await chat({})).status).toBe(200);
      const page = await (await agent.fetch('/dashboard/apps')).text();
      expect(page).toMatch(/18 \/ 5,000 tokens/);
      expect(page).toMatch(/Resets \d{4}-\d\d-01 \(UTC\)/);
      const save = (fields: Record<string, string>) => agent.fetch(`/dashboard/apps/${encodeURIComponent(clientId)}/budget`, { form: { _csrf: hiddenField(page, '_csrf'), ...fields } });
      expect((await save({ budget: 'limit', budget_tokens: '10', budget_period: 'day' })).status).toBe(303);
      const refused = await chat({});
      expect(refused.status).toBe(429);
      expect(refused.json.error.message).toContain('daily limit of 10 tokens');
      // The usage page marks the day the app hit its limit; the refused call charged nothing.
      const usagePage = await (await agent.fetch('/dashboard/usage')).text();
      expect(usagePage).toMatch(/Budget App <span class="badge warning" title="\d+ calls refused">limit reached<\/span>/);
      expect((await save({ budget: 'none' })).status).toBe(303);
      expect((await chat({})).status).toBe(200);
      expect((await save({ budget: 'limit', budget_tokens: 'lots', budget_period: 'day' })).status).toBe(400);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('images', () => {
    it('reserve n images; past the limit → 429 before the upstream', async () => {
      await ts.services.budgets.set(owner.userId, clientId, { tokens: null, images: 3, period: 'month' });
      const image = (n: number) => call('POST', `${ts.api}/oauth/images/generations`, { headers: { authorization: `Bearer ${token}` }, json: { model: 'test-image', prompt: 'a cat', n } });
      expect((await image(2)).status).toBe(200);
      const before = up.received.length;
      const over = await image(2);
      expect(over.status).toBe(429);
      expect(over.json.error.message).toContain('monthly limit of 3 images that you set for it. It has 1 of its 3 images left this month; this call needs 2.');
      expect(up.received.length).toBe(before);
      const unbounded = await image(2.5);
      expect(unbounded.status).toBe(400);
      expect(unbounded.json.error).toMatchObject({ param: 'n', code: 'invalid_value' });
      expect(up.received.length).toBe(before);
      const last = await image(1);
      expect(last.status).toBe(200);
      expect(last.headers.get('serika-budget-remaining-images')).toBe('0');
    });
  });
});
