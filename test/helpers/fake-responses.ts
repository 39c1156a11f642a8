import type { ServerResponse } from 'node:http';
import { sleep } from './until.js';

/** What the fake's Responses API and embeddings report (test code only). */
export const RESPONSE_USAGE = { input_tokens: 13, output_tokens: 6 };
export const EMBEDDING_USAGE = { prompt_tokens: 4, total_tokens: 4 };
/** The words a fake response answers with. */
const RESPONSE_WORDS = ['Hello', ' from', ' upstream'];

type Json = Record<string, any>;

/**
 * The OpenAI Responses API and embeddings as the test upstream serves them: responses kept by id (GET, DELETE,
 * previous_response_id), streamed as `response.*` events. Models pick a behaviour as for chat: 'greedy' spends
 * its whole max_output_tokens and a token per 4 bytes of its input (and what it continues); 'no-usage' reports none.
 */
export class FakeResponses {
  private readonly kept = new Map<string, Json>();
  private next = 0;

  /** Answers a request to /responses… or /embeddings; false when the path is neither. */
  async handle(method: string, path: string, body: Json | undefined, response: ServerResponse): Promise<boolean> {
    const json = (status: number, value: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    const byId = /^\/v1\/responses\/([^/?]+)/.exec(path);
    if (byId) {
      const id = decodeURIComponent(byId[1]!);
      const kept = this.kept.get(id);
      if (!kept) return json(404, { error: { message: `Response with id '${id}' not found.`, type: 'invalid_request_error', param: null, code: null } }), true;
      if (path.includes('/input_items')) {
        const items = [{ type: 'message', id: `msg_in_${id}`, role: 'user', content: [{ type: 'input_text', text: kept.input_text }] }];
        return json(200, { object: 'list', data: items, first_id: items[0]!.id, last_id: items[0]!.id, has_more: false }), true;
      }
      if (method === 'DELETE') {
        this.kept.delete(id);
        return json(200, { id, object: 'response', deleted: true }), true;
      }
      return json(200, kept), true;
    }
    if (path === '/v1/embeddings') return this.embeddings(body ?? {}, json), true;
    if (path !== '/v1/responses') return false;
    const b = body ?? {};
    const previous = typeof b.previous_response_id === 'string' ? this.kept.get(b.previous_response_id) : undefined;
    if (b.previous_response_id && !previous) {
      return json(404, { error: { message: `Previous response with id '${b.previous_response_id}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: null } }), true;
    }
    const id = `resp_fake${(this.next++).toString().padStart(6, '0')}${Math.random().toString(36).slice(2, 8)}`;
    const usage =
      b.model === 'greedy'
        ? {
            input_tokens: Math.ceil(JSON.stringify([b.input, b.instructions, b.tools]).length / 4) + (previous ? previous.usage.total_tokens : 0),
            output_tokens: Number(b.max_output_tokens ?? 1000),
          }
        : RESPONSE_USAGE;
    const full = { ...usage, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage.input_tokens + usage.output_tokens };
    const done = this.response(id, b, 'completed', RESPONSE_WORDS.join(''), b.model === 'no-usage' ? null : full);
    this.kept.set(id, done);
    if (!b.stream) return json(200, done), true;
    await this.stream(id, b, done, response);
    return true;
  }

  private response(id: string, b: Json, status: string, text: string | null, usage: Json | null): Json {
    return {
      id,
      object: 'response',
      created_at: 1_795_000_000,
      status,
      model: b.model,
      previous_response_id: b.previous_response_id ?? null,
      max_output_tokens: b.max_output_tokens ?? null,
      store: b.store ?? true,
      input_text: typeof b.input === 'string' ? b.input : '',
      output: text === null ? [] : [{ type: 'message', id: `msg_${id}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
      usage,
    };
  }

  private async stream(id: string, b: Json, done: Json, response: ServerResponse): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let sequence = 0;
    const send = (type: string, fields: Json) => response.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`);
    send('response.created', { response: this.response(id, b, 'in_progress', null, null) });
    const item = { id: `msg_${id}`, output_index: 0, content_index: 0 };
    const words = b.model === 'slow-stream' ? ['one', ' two', ' three', ' four', ' five', ' six', ' seven', ' eight'] : RESPONSE_WORDS;
    for (const word of words) {
      if (response.destroyed) return;
      send('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: word });
      if (b.model === 'slow-stream') await sleep(300);
      if (b.model === 'stall-stream') await sleep(3000);
    }
    if (b.model === 'drop-stream') {
      await sleep(100);
      return void response.socket?.destroy();
    }
    send('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text: words.join('') });
    if (b.model === 'late-usage') await sleep(500);
    send('response.completed', { response: done });
    if (b.model === 'linger-stream') {
      await sleep(1000);
      return void response.end();
    }
    response.end();
  }

  private embeddings(b: Json, json: (status: number, value: unknown) => void): void {
    const inputs: unknown[] = Array.isArray(b.input) ? b.input : [b.input];
    const vector = [0.25, -0.5, 1];
    const encoded = Buffer.from(new Float32Array(vector).buffer).toString('base64');
    const usage =
      b.model === 'greedy'
        ? { prompt_tokens: Math.ceil(JSON.stringify(b.input).length / 4), total_tokens: 0 }
        : EMBEDDING_USAGE;
    json(200, {
      object: 'list',
      model: b.model,
      data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: b.encoding_format === 'base64' ? encoded : vector })),
      ...(b.model === 'no-usage' ? {} : { usage }),
    });
  }
}
