import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeResponses } from './fake-responses.js';
import { sleep } from './until.js';

/**
 * A local OpenAI-compatible server for tests (test code only). The model
 * name picks a behaviour, so one server covers every case; every request it
 * receives is recorded with its headers and body.
 */
interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
  /** Set when the client went away before the answer was complete. */
  aborted: boolean;
}

export interface FakeUpstream {
  baseUrl: string;
  received: ReceivedRequest[];
  /** Resolves when a request is seen aborted. */
  nextAbort(): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

/** A 1×1 PNG, as an upstream that answers images as base64 sends it. */
export const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

export const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
export const STREAM_USAGE = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };

// Every sleep below is the point: the upstream's latency, which the gateway's timeouts and streams are tested against.

function completion(model: string) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1_795_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from upstream' }, finish_reason: 'stop' }],
    usage: USAGE,
  };
}

/** A streamed chunk: a word, the end of the answer (`finish_reason`), or (null) none, as the usage chunk has. */
function chunk(model: string, content: string | { finish: string } | null, extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1_795_000_000,
    model,
    choices:
      content === null
        ? []
        : typeof content === 'string'
          ? [{ index: 0, delta: { content }, finish_reason: null }]
          : [{ index: 0, delta: {}, finish_reason: content.finish }],
    ...extra,
  };
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const received: ReceivedRequest[] = [];
  const abortWaiters: Array<(r: ReceivedRequest) => void> = [];
  const responses = new FakeResponses();
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of request) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const record: ReceivedRequest = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: text ? JSON.parse(text) : undefined, aborted: false };
    received.push(record);
    response.on('close', () => {
      if (!response.writableFinished) {
        record.aborted = true;
        abortWaiters.shift()?.(record);
      }
    });
    const model: string = record.body?.model ?? '';
    // 'greedy' spends its whole completion cap (max_tokens or max_completion_tokens) on each of its n choices,
    // and a prompt of a token per 4 bytes of what reaches the model (messages, tools, functions, response_format),
    // as real tokenizers roughly count.
    const b = record.body ?? {};
    const greedy =
      model === 'greedy'
        ? {
            prompt_tokens: Math.ceil(JSON.stringify([b.messages, b.tools, b.functions, b.response_format]).length / 4),
            completion_tokens: Number(b.max_tokens ?? b.max_completion_tokens ?? 1000) * Number(b.n ?? 1),
            total_tokens: 0,
          }
        : null;
    const json = (status: number, value: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

    if (request.url === '/v1/models') {
      return json(200, { object: 'list', data: [{ id: 'test-model', object: 'model', created: 1, owned_by: 'test' }] });
    }
    switch (model) {
      case 'fail-500':
        return json(500, { error: { message: 'upstream exploded', type: 'server_error', param: null, code: null } });
      case 'unauthorized':
        return json(401, { error: { message: 'Incorrect API key provided: sk-upstream-secret', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      case 'no-such-model':
        return json(404, { error: { message: 'The model `no-such-model` does not exist', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
      case 'bad-request':
        return json(400, { error: { message: 'messages is required', type: 'invalid_request_error', param: 'messages', code: null } });
      case 'garbage':
        return response.writeHead(200, { 'content-type': 'application/json' }).end('<html>definitely not json');
      case 'drop':
        return request.socket.destroy();
      case 'slow':
        await sleep(3000);
        return json(200, completion(model));
    }
    if (await responses.handle(record.method, request.url ?? '', record.body, response)) return;
    if (request.url === '/v1/images/generations' && model === 'b64-image') {
      return json(200, { created: 1, data: [{ b64_json: TINY_PNG }], usage: { input_tokens: 9, output_tokens: 100 } });
    }
    if (request.url === '/v1/images/generations') {
      const n = Number(record.body?.n ?? 1);
      return json(200, { created: 1, data: Array.from({ length: n }, (_, i) => ({ url: `https://img.example/${i}.png` })), usage: { input_tokens: 9, output_tokens: 100 } });
    }
    if (record.body?.stream) {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const includeUsage = record.body?.stream_options?.include_usage === true;
      const send = (value: unknown) => response.write(`data: ${JSON.stringify(value)}\n\n`);
      const words =
        model === 'slow-stream'
          ? ['one', ' two', ' three', ' four', ' five', ' six', ' seven', ' eight']
          : model === 'endless-stream'
            ? Array.from({ length: 150 }, (_, i) => ` word${i}`)
            : ['Hello', ' from', ' upstream'];
      for (const word of words) {
        if (response.destroyed) return;
        send(chunk(model, word, includeUsage ? { usage: null } : {}));
        if (model === 'slow-stream') await sleep(300);
        if (model === 'endless-stream') await sleep(200);
        if (model === 'stall-stream') await sleep(3000);
      }
      if (model === 'drop-stream') {
        // Halfway: the words have reached Serika, then the connection goes.
        await sleep(100);
        return request.socket.destroy();
      }
      // As OpenAI streams: the answer's end (finish_reason), then a chunk with no choices and the usage.
      send(chunk(model, { finish: 'stop' }, includeUsage ? { usage: null } : {}));
      // 'late-usage': the usage comes a while after finish_reason (an app that stops there has gone by then);
      // 'no-usage-stream' never sends it, and ends a while after its words.
      if (model === 'late-usage' || model === 'no-usage-stream') await sleep(500);
      if (includeUsage && model !== 'no-usage-stream') send(chunk(model, null, { usage: greedy ?? STREAM_USAGE }));
      if (model === 'linger-stream') {
        // [DONE], then the connection held open a while before it ends.
        response.write('data: [DONE]\n\n');
        await sleep(1000);
        return response.end();
      }
      response.end('data: [DONE]\n\n');
      return;
    }
    if (model === 'no-usage') {
      const { usage: _omitted, ...answer } = completion(model);
      return json(200, answer);
    }
    return json(200, greedy ? { ...completion(model), usage: greedy } : completion(model));
  };
  // A request the fake cannot answer drops the connection (failing the call that sent it) and says why.
  const server: Server = createServer((request, response) => void handle(request, response).catch((error: unknown) => {
    console.error(error);
    response.destroy();
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    received,
    nextAbort: () => new Promise((resolve) => abortWaiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
