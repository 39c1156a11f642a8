import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { RESPONSE_USAGE } from '../helpers/fake-responses.js';
import { STREAM_USAGE, type FakeUpstream } from '../helpers/fake-upstream.js';
import { type Seeded, type TestServer } from '../helpers/server.js';
import { startGenerationApp, type GenerationApp } from '../helpers/tokens.js';
import { until } from '../helpers/until.js';

/** SPEC §10: the prompt estimate of a body as the app sent it (UTF-8 bytes ÷ 2, rounded up). */
const estimate = (body: Record<string, unknown>) => Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 2);

/**
 * SPEC §10: a stream the app leaves before its end is still charged — Serika reads the upstream on (up to
 * UPSTREAM_TIMEOUT) for its usage, else charges the whole reservation — and so is one cut by shutdown; the usage
 * row is written either way. The test upstream sends the usage chunk after the finish_reason chunk, as OpenAI does.
 */
describe.each(DIALECTS)('streams that do not run to their end are charged (%s)', (dialect) => {
  let app: GenerationApp;
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let token: string;
  let clientId: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    app = await startGenerationApp(dialect, `unfinished_${dialect}`, 'Quitter App', { UPSTREAM_TIMEOUT: '3' });
    ({ ts, up, owner, token, clientId } = app);
  });
  afterAll(async () => app?.close());

  const rowsOf = (model: string) =>
    ts.services.storage.db.selectFrom('usage_records').select(['status', 'prompt_tokens', 'completion_tokens']).where('client_id', '=', clientId).where('model', '=', model).execute();
  /** Waits (a bounded poll) until `count` rows of `model` are written. */
  async function rowsWritten(model: string, count: number) {
    await until(async () => (await rowsOf(model)).length >= count, { timeoutMs: 15_000, intervalMs: 25, message: `${count} usage rows of ${model}` });
    return rowsOf(model);
  }
  /** Streams a chat and goes away (the connection closed) once `leaveAt` says so of what came so far. */
  async function streamAndLeave(
    body: Record<string, unknown>,
    leaveAt: (text: string) => boolean,
    extra: { ending?: () => void; path?: string } = {},
  ): Promise<string> {
    const controller = new AbortController();
    const response = await fetch(`${ts.api}/oauth/${extra.path ?? 'chat/completions'}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += Buffer.from(value).toString('utf8');
      if (leaveAt(text)) {
        if (extra.ending) extra.ending();
        else {
          controller.abort();
          return text;
        }
      }
    }
  }
  const budget = () => ts.services.budgets.get(owner.userId, clientId);

  // SPEC §14: the Responses API keeps the streamed relay's guarantees; its usage comes in response.completed.
  describe.skipIf(!dialectAvailable(dialect))('responses', () => {
    // The chat cases below start from a budget with nothing spent.
    afterAll(async () => ts.services.budgets.set(owner.userId, clientId, null));
    const responseRows = (model: string) =>
      ts.services.storage.db.selectFrom('usage_records').select(['status', 'prompt_tokens', 'completion_tokens', 'endpoint']).where('client_id', '=', clientId).where('model', '=', model).execute();
    async function responseRowsWritten(model: string, count: number) {
      await until(async () => (await responseRows(model)).length >= count, { timeoutMs: 15_000, intervalMs: 25, message: `${count} usage rows of ${model}` });
      return responseRows(model);
    }

    it('a response the app leaves after its first delta is charged its usage, and its owner is recorded', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 10_000, images: null, period: 'month' });
      const body = { model: 'slow-stream', input: 'hi', stream: true, max_output_tokens: 100 };
      const seen = await streamAndLeave(body, (text) => text.includes('"delta":"one"'), { path: 'responses' });
      const id = /"id":"(resp_[^"]+)"/.exec(seen)?.[1];
      expect(id).toBeDefined();
      const [row] = await responseRowsWritten('slow-stream', 1);
      // The upstream ran on for its usage after the app went: 499, charged what it reported.
      expect(row).toEqual({ status: 499, prompt_tokens: RESPONSE_USAGE.input_tokens, completion_tokens: RESPONSE_USAGE.output_tokens, endpoint: 'responses' });
      const owned = await ts.services.storage.db.selectFrom('response_owners').select('client_id').where('response_id', '=', id!).executeTakeFirst();
      expect(owned).toEqual({ client_id: clientId });
      expect(await budget()).toMatchObject({ tokensUsed: RESPONSE_USAGE.input_tokens + RESPONSE_USAGE.output_tokens, tokensReserved: 0 });
    });

    it('a response the app leaves whose upstream stalls past UPSTREAM_TIMEOUT is charged the whole reservation', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 10_000, images: null, period: 'month' });
      const body = { model: 'stall-stream', input: 'hi', stream: true, max_output_tokens: 40 };
      await streamAndLeave(body, (text) => text.includes('"delta":"Hello"'), { path: 'responses' });
      const [row] = await responseRowsWritten('stall-stream', 1);
      expect(row).toEqual({ status: 499, prompt_tokens: estimate(body), completion_tokens: 40, endpoint: 'responses' });
      expect(await budget()).toMatchObject({ tokensUsed: estimate(body) + 40, tokensReserved: 0 });
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('chat', () => {
    it('ten answers the app left at finish_reason, before the usage chunk, are each charged their usage with a usage row', async () => {
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const body = { model: 'late-usage', stream: true, messages: [{ role: 'user', content: 'hi' }] };
      for (let i = 0; i < 10; i++) {
        const seen = await streamAndLeave(body, (text) => text.includes('"finish_reason":"stop"'));
        expect(seen).toContain('upstream');
        // Each call holds nearly the whole limit (the cap lowered to what remains) until it is charged.
        await rowsWritten('late-usage', i + 1);
      }
      const rows = await rowsWritten('late-usage', 10);
      expect(rows).toHaveLength(10);
      for (const row of rows) {
        expect(row).toMatchObject({ prompt_tokens: STREAM_USAGE.prompt_tokens, completion_tokens: STREAM_USAGE.completion_tokens });
        // 499: Serika saw the app go in the half second before the usage (on a machine slower than that, 200: the same charge).
        expect([499, 200]).toContain(row.status);
      }
      const spent = 10 * (STREAM_USAGE.prompt_tokens + STREAM_USAGE.completion_tokens);
      expect(await budget()).toMatchObject({ tokensUsed: spent, tokensReserved: 0, tokensRemaining: 1_000 - spent });
    });

    it('a stream the app leaves whose usage never comes is charged the whole reservation', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const body = { model: 'no-usage-stream', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] };
      await streamAndLeave(body, (text) => text.includes('Hello'));
      const [row] = await rowsWritten('no-usage-stream', 1);
      expect(row).toMatchObject({ prompt_tokens: estimate(body), completion_tokens: 50 });
      // 499: Serika saw the app go during the upstream's last half second (were it slower than that, 200: the same charge).
      expect([499, 200]).toContain(row!.status);
      expect(await budget()).toMatchObject({ tokensUsed: estimate(body) + 50, tokensReserved: 0 });
    });

    it('a stream the app leaves that outlasts UPSTREAM_TIMEOUT is ended then, and charged the whole reservation', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const body = { model: 'endless-stream', stream: true, max_tokens: 40, messages: [{ role: 'user', content: 'hi' }] };
      const aborted = up.nextAbort();
      await streamAndLeave(body, (text) => text.includes('word0'));
      // Serika, not the app, ends the upstream call (30 s of words) once UPSTREAM_TIMEOUT (3 s) has passed.
      expect((await aborted).body.model).toBe('endless-stream');
      const [row] = await rowsWritten('endless-stream', 1);
      expect(row).toEqual({ status: 499, prompt_tokens: estimate(body), completion_tokens: 40 });
      expect(await budget()).toMatchObject({ tokensUsed: estimate(body) + 40, tokensReserved: 0 });
    });

    it('n choices: a stream the app leaves is charged the cap n times', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const body = { model: 'no-usage-stream', stream: true, n: 3, max_completion_tokens: 20, messages: [{ role: 'user', content: 'n' }] };
      await streamAndLeave(body, (text) => text.includes('Hello'));
      const rows = await rowsWritten('no-usage-stream', 2);
      expect(rows.at(-1)).toEqual({ status: 499, prompt_tokens: estimate(body), completion_tokens: 60 });
    });

    // Last: the server's streams stay ended once shutdown has begun.
    it('a stream cut by shutdown ends with an error event and is charged its reservation, with its usage row (503)', async () => {
      await ts.services.budgets.set(owner.userId, clientId, null);
      await ts.services.budgets.set(owner.userId, clientId, { tokens: 1_000, images: null, period: 'month' });
      const body = { model: 'endless-stream', stream: true, max_tokens: 30, messages: [{ role: 'user', content: 'cut' }] };
      const seen = await streamAndLeave(body, (text) => text.includes('word1'), { ending: () => ts.services.lifecycle.ending.abort() });
      expect(seen).toMatch(/data: \{"error":\{"message":"Serika is shutting down and ended this stream; retry the request\."/);
      const rows = await rowsWritten('endless-stream', 2);
      expect(rows.at(-1)).toEqual({ status: 503, prompt_tokens: estimate(body), completion_tokens: 30 });
      expect(await budget()).toMatchObject({ tokensUsed: estimate(body) + 30, tokensReserved: 0 });
    });
  });
});
