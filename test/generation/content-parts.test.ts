import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asking, fileData, fileId, image, video } from '../helpers/chat-bodies.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { type FakeUpstream } from '../helpers/fake-upstream.js';
import { call, type Seeded, type TestServer } from '../helpers/server.js';
import { startGenerationApp, type GenerationApp } from '../helpers/tokens.js';

type Json = Record<string, unknown>;

/** SPEC §10: content parts cost far more than their bytes; a budgeted call reserves their most, or is refused. */
describe.each(DIALECTS)('budgeted calls with content parts (%s)', (dialect) => {
  let app: GenerationApp;
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let token: string;
  let clientId: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    app = await startGenerationApp(dialect, `parts_${dialect}`, 'Vision App');
    ({ ts, up, owner, token, clientId } = app);
  });
  afterAll(async () => app?.close());

  const chat = (body: Json) => call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: `Bearer ${token}` }, json: body });
  const estimate = (body: Json) => Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 2);
  const upstreamCalls = () => up.received.filter((r) => r.path === '/v1/chat/completions');
  const limit = async (tokens: number | null) => {
    await ts.services.budgets.set(owner.userId, clientId, null);
    if (tokens !== null) await ts.services.budgets.set(owner.userId, clientId, { tokens, images: null, period: 'month' });
  };

  describe.skipIf(!dialectAvailable(dialect))('chat', () => {
    it('one high-detail image does not fit 1,000 tokens: 429 before the upstream, needing its 48,169', async () => {
      // Issue 30: an image part of ~60 bytes was reserved ~30 tokens; four of them spent ~100k against 1,000.
      await limit(1_000);
      const before = upstreamCalls().length;
      for (const body of [asking(image('high')), asking(image(), image(), image(), image())]) {
        const reply = await chat(body);
        expect(reply.status).toBe(429);
        expect(reply.json.error).toMatchObject({ code: 'app_budget_exceeded', type: 'insufficient_quota' });
        const images = (body.messages as Array<{ content: unknown[] }>)[1]!.content.length - 1;
        expect(reply.json.error.message).toContain(`this call needs up to ${(estimate(body) + images * 48_169 + 4096).toLocaleString('en-US')}.`);
      }
      expect(upstreamCalls().length).toBe(before);
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: 0, tokensReserved: 0 });
      // The positive anchor: the same count sees a call that fits, without the image.
      expect((await chat(asking())).status).toBe(200);
      expect(upstreamCalls().length).toBe(before + 1);
    });

    it('under 60,000 tokens it is sent, and its hold covers the image: a call whose usage never comes is charged it', async () => {
      await limit(60_000);
      const body: Json = { ...asking(image('high')), max_tokens: 100 };
      const reply = await chat(body);
      expect(reply.status).toBe(200);
      expect(upstreamCalls().at(-1)!.body).toMatchObject({ max_tokens: 100, messages: body.messages });
      // The no-usage answer is charged its whole reservation (SPEC §10): the bytes, the image's most and the cap.
      const noUsage = { ...body, model: 'no-usage' };
      expect((await chat(noUsage)).status).toBe(200);
      const state = (await ts.services.budgets.get(owner.userId, clientId))!;
      expect(state.tokensReserved).toBe(0);
      expect(state.tokensUsed).toBe(18 + estimate(noUsage) + 48_169 + 100);
      // What remains is lowered by the image's hold: the next cap is what is left after it.
      await limit(50_000);
      expect((await chat(asking(image('high')))).status).toBe(200);
      const fitted = asking(image('high'));
      expect(upstreamCalls().at(-1)!.body.max_tokens).toBe(50_000 - estimate(fitted) - 48_169);
    });

    it('a low-detail image holds its smaller most: it fits 5,000 tokens', async () => {
      await limit(5_000);
      const body = asking(image('low'));
      const reply = await chat(body);
      expect(reply.status).toBe(200);
      expect(upstreamCalls().at(-1)!.body.max_tokens).toBe(5_000 - estimate(body) - 3_779);
    });

    it.each([
      ['a file_id part', fileId, 'cannot include files'],
      ['a file_data part', fileData, 'cannot include files'],
      ['an input_video part (a type Serika does not know)', video, "cannot include 'input_video' content"],
    ])('%s cannot be bounded: 400 naming it, before the upstream', async (_, part, words) => {
      await limit(1_000_000);
      const before = upstreamCalls().length;
      const reply = await chat(asking(part));
      expect(reply.status).toBe(400);
      expect(reply.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param: 'messages[1].content[1]' });
      expect(reply.json.error.message).toContain(`a call with a spending limit ${words}`);
      expect(upstreamCalls().length).toBe(before);
      expect((await ts.services.budgets.get(owner.userId, clientId))!).toMatchObject({ tokensUsed: 0, tokensReserved: 0 });
      // The positive anchor: the same count sees the call without that part.
      expect((await chat(asking())).status).toBe(200);
      expect(upstreamCalls().length).toBe(before + 1);
    });

    it('with no token limit the same bodies go to the upstream untouched: it judges them', async () => {
      for (const tokens of [null, 'images only'] as const) {
        await limit(null);
        if (tokens) await ts.services.budgets.set(owner.userId, clientId, { tokens: null, images: 1, period: 'day' });
        for (const body of [asking(image('high'), image(), image(), image()), asking(image('low')), asking(fileId), asking(fileData), asking(video)]) {
          const reply = await chat(body);
          expect(reply.status).toBe(200);
          expect(upstreamCalls().at(-1)!.body).toEqual(body);
        }
      }
    });
  });
});
