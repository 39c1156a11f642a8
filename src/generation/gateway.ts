import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { openAIErrorBody } from '../http/openai-errors.js';
import { SseSplitter } from './sse.js';
import { transportError, type UpstreamClient, type UpstreamResponse } from './upstream.js';
import type { Principal, UsageEntry, UsageService } from './usage.js';

export interface GatewayDeps {
  upstream: UpstreamClient;
  usage: UsageService;
  /** The client's display name for usage rows; null for API-key calls. */
  clientName: (clientId: string) => Promise<string | null>;
  now: () => number;
}

type Endpoint = UsageEntry['endpoint'];
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The status a failed upstream answer is recorded with: what the app receives. */
function upstreamFailureStatus(status: number): number {
  return status >= 500 || status === 401 || status === 403 || status < 400 ? 502 : status;
}

/** Aborts the upstream call when the app goes away before its answer is complete. */
function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  request.raw.on('aborted', () => controller.abort());
  return controller;
}

function parseJson(buffer: Buffer): unknown {
  try {
    return JSON.parse(buffer.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The generation gateway (SPEC §5): one implementation behind the OAuth and
 * API-key routes. Upstream failures map to 502 (5xx, garbage, dropped, or
 * its 401/403: Serika's own key failing), 504 (silent past
 * UPSTREAM_TIMEOUT), other 4xx passed on; every call is metered.
 */
export class Gateway {
  constructor(private readonly deps: GatewayDeps) {}

  async models(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const controller = abortOnDisconnect(request, reply);
    const response = await this.deps.upstream.send('GET', '/models', undefined, controller.signal);
    const body = await this.deps.upstream.readAll(response);
    if (response.statusCode >= 300) return this.rejected(reply, response.statusCode, body);
    const json = parseJson(body);
    if (!isObject(json) || !Array.isArray(json.data)) throw new AppError('upstream_error', 'The generation upstream answered with something that is not a model list.');
    return reply.code(200).type('application/json; charset=utf-8').send(body);
  }

  async images(principal: Principal, body: Json, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    return this.buffered('images.generations', '/images/generations', principal, body, request, reply, (json) => {
      const usage = isObject(json.usage) ? json.usage : {};
      return {
        promptTokens: Number(usage.input_tokens ?? usage.prompt_tokens ?? 0),
        completionTokens: Number(usage.output_tokens ?? usage.completion_tokens ?? 0),
        images: Array.isArray(json.data) ? json.data.length : 0,
      };
    });
  }

  async chat(principal: Principal, body: Json, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (body.stream === true) return this.stream(principal, body, request, reply);
    return this.buffered('chat.completions', '/chat/completions', principal, body, request, reply, (json) => {
      const usage = isObject(json.usage) ? json.usage : {};
      return { promptTokens: Number(usage.prompt_tokens ?? 0), completionTokens: Number(usage.completion_tokens ?? 0), images: 0 };
    });
  }

  private async buffered(
    endpoint: Endpoint,
    path: string,
    principal: Principal,
    body: Json,
    request: FastifyRequest,
    reply: FastifyReply,
    measure: (json: Json) => { promptTokens: number; completionTokens: number; images: number },
  ): Promise<FastifyReply> {
    const started = this.deps.now();
    const model = typeof body.model === 'string' ? body.model : null;
    const charge = (status: number, m = { promptTokens: 0, completionTokens: 0, images: 0 }) =>
      this.record({ principal, endpoint, model, status, latencyMs: this.deps.now() - started, ...m });
    const controller = abortOnDisconnect(request, reply);
    let response: UpstreamResponse;
    let raw: Buffer;
    try {
      response = await this.deps.upstream.send('POST', path, body, controller.signal);
      raw = await this.deps.upstream.readAll(response);
    } catch (error) {
      const failure = error instanceof AppError ? error : transportError(error);
      await charge(controller.signal.aborted ? 499 : failure.status);
      throw failure;
    }
    if (response.statusCode >= 300) {
      await charge(upstreamFailureStatus(response.statusCode));
      return this.rejected(reply, response.statusCode, raw);
    }
    const json = parseJson(raw);
    if (!isObject(json)) {
      await charge(502);
      throw new AppError('upstream_error', 'The generation upstream answered with something that is not JSON.');
    }
    await charge(200, measure(json));
    return reply.code(200).type('application/json; charset=utf-8').send(raw);
  }

  /**
   * stream: true — server-sent events passed on chunk by chunk. Serika asks for
   * the usage chunk itself when the app did not, and then strips it.
   */
  private async stream(principal: Principal, body: Json, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const started = this.deps.now();
    const model = typeof body.model === 'string' ? body.model : null;
    const options = isObject(body.stream_options) ? body.stream_options : {};
    const appAskedUsage = options.include_usage === true;
    const upstreamBody = appAskedUsage ? body : { ...body, stream_options: { ...options, include_usage: true } };
    const controller = abortOnDisconnect(request, reply);
    const measured = { promptTokens: 0, completionTokens: 0, images: 0 };
    let recorded = false;
    const charge = async (status: number) => {
      if (recorded) return;
      recorded = true;
      await this.record({ principal, endpoint: 'chat.completions', model, status, latencyMs: this.deps.now() - started, ...measured });
    };

    let response: UpstreamResponse;
    try {
      response = await this.deps.upstream.send('POST', '/chat/completions', upstreamBody, controller.signal);
    } catch (error) {
      await charge(error instanceof AppError ? error.status : 502);
      throw error;
    }
    if (response.statusCode >= 300) {
      const raw = await this.deps.upstream.readAll(response).catch(() => Buffer.alloc(0));
      await charge(upstreamFailureStatus(response.statusCode));
      return this.rejected(reply, response.statusCode, raw);
    }
    if (!String(response.headers['content-type'] ?? '').includes('text/event-stream')) {
      response.body.destroy();
      await charge(502);
      throw new AppError('upstream_error', 'The generation upstream did not answer with an event stream.');
    }

    const upstream = response.body;
    const splitter = new SseSplitter();
    const usageChunk = (data: string | null): Json | null => {
      if (!data || data === '[DONE]' || !data.includes('"usage"')) return null;
      const json = parseJson(Buffer.from(data));
      return isObject(json) && isObject(json.usage) ? json : null;
    };
    const relay = (async function* (): AsyncGenerator<string> {
      try {
        for await (const chunk of upstream) {
          for (const event of splitter.push(chunk as Buffer)) {
            const withUsage = usageChunk(event.data);
            if (withUsage) {
              const usage = withUsage.usage as Json;
              measured.promptTokens = Number(usage.prompt_tokens ?? 0);
              measured.completionTokens = Number(usage.completion_tokens ?? 0);
              if (!appAskedUsage && Array.isArray(withUsage.choices) && withUsage.choices.length === 0) continue;
            }
            // The usage is committed before the app sees the end of the stream.
            if (event.data === '[DONE]') await charge(200);
            yield event.raw;
          }
        }
        for (const event of splitter.end()) yield event.raw;
        await charge(200);
      } catch (error) {
        if (controller.signal.aborted) {
          await charge(499); // the app went away: nothing charged
          return;
        }
        const failure = transportError(error);
        await charge(failure.status);
        yield `data: ${JSON.stringify(openAIErrorBody(failure))}\n\n`;
      }
    })();

    return reply
      .code(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no')
      .send(Readable.from(relay, { objectMode: false }));
  }

  /** Non-2xx from the upstream: its 4xx passed on, its 401/403 and 5xx a 502. */
  private rejected(reply: FastifyReply, status: number, raw: Buffer): FastifyReply {
    if (status === 401 || status === 403) throw new AppError('upstream_error', "The generation upstream refused Serika's credentials (UPSTREAM_API_KEY).");
    if (status < 400 || status >= 500) throw new AppError('upstream_error', `The generation upstream failed (status ${status}).`);
    const json = parseJson(raw);
    if (isObject(json) && isObject(json.error)) {
      const e = json.error;
      const message = typeof e.message === 'string' ? e.message : `The generation upstream refused the request (status ${status}).`;
      return reply.code(status).send({
        error: {
          message,
          type: typeof e.type === 'string' ? e.type : 'invalid_request_error',
          param: typeof e.param === 'string' ? e.param : null,
          code: typeof e.code === 'string' ? e.code : null,
        },
      });
    }
    return reply.code(status).send(openAIErrorBody(new AppError('invalid_request', `The generation upstream refused the request (status ${status}).`)));
  }

  private async record(entry: Omit<UsageEntry, 'clientName'>): Promise<void> {
    const clientName = entry.principal.clientId ? await this.deps.clientName(entry.principal.clientId) : null;
    await this.deps.usage.record({ ...entry, clientName });
  }
}
