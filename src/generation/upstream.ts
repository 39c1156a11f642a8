import { Agent, type Dispatcher } from 'undici';
import { AppError } from '../errors.js';
import type { Tracing } from '../tracing/tracing.js';
import { traceUpstream } from '../tracing/upstream-spans.js';

export interface UpstreamConfig {
  baseUrl: string | null;
  apiKey: string | null;
  /** Longest wait for the first byte, and between two chunks (SPEC §1 UPSTREAM_TIMEOUT). */
  timeoutMs: number;
  /** OTEL_*: each call is a span of the request that made it (tracing/upstream-spans.ts). */
  tracing?: Tracing | null;
}

export type UpstreamResponse = Dispatcher.ResponseData;

/** Cap on a buffered (non-streamed) upstream answer; generous for base64 images. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

function notConfigured(): AppError {
  return new AppError('upstream_not_configured', 'No generation upstream is configured: set UPSTREAM_BASE_URL to an OpenAI-compatible provider.');
}

/** Maps a transport failure talking to the upstream to SPEC §5's statuses. */
export function transportError(error: unknown): AppError {
  const code = (error as { code?: string })?.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new AppError('upstream_timeout', 'The generation upstream did not answer in time.');
  }
  return new AppError('upstream_error', 'The generation upstream could not be reached or dropped the connection.');
}

/**
 * The OpenAI-compatible upstream, over one keep-alive undici pool. Only
 * Serika's own key goes upstream: never the caller's token, key or cookies.
 */
export class UpstreamClient {
  private readonly agent: Agent;
  /** The base URL taken apart once: each call goes to the pool as it is, not through undici's URL parsing and option copying. */
  private readonly target: { origin: string; basePath: string } | null;
  /** The request headers, made once (undici copies what it is given). */
  private readonly headers: { plain: Readonly<Record<string, string>>; json: Readonly<Record<string, string>> };

  constructor(private readonly config: UpstreamConfig) {
    const base = config.baseUrl === null ? null : new URL(config.baseUrl);
    this.target = base && { origin: base.origin, basePath: base.pathname.replace(/\/+$/, '') };
    const plain: Record<string, string> = { accept: 'application/json, text/event-stream' };
    if (config.apiKey) plain.authorization = `Bearer ${config.apiKey}`;
    this.headers = { plain: Object.freeze(plain), json: Object.freeze({ ...plain, 'content-type': 'application/json' }) };
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 128,
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connect: { timeout: Math.min(10_000, config.timeoutMs) },
    });
  }

  async send(method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, signal?: AbortSignal): Promise<UpstreamResponse> {
    const target = this.target;
    if (target === null) throw notConfigured();
    const request = (headers: Readonly<Record<string, string>>) =>
      this.agent.request({
        origin: target.origin,
        path: target.basePath + path,
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        headersTimeout: this.config.timeoutMs,
        bodyTimeout: this.config.timeoutMs,
      });
    const headers = body === undefined ? this.headers.plain : this.headers.json;
    const tracing = this.config.tracing;
    try {
      if (!tracing) return await request(headers);
      const model = typeof (body as { model?: unknown } | undefined)?.model === 'string' ? (body as { model: string }).model : null;
      return await traceUpstream(tracing, { method, origin: target.origin, path: target.basePath + path, endpoint: path, model }, headers, request);
    } catch (error) {
      throw transportError(error);
    }
  }

  /** Reads a whole answer, bounded in size and by the between-chunks timeout. */
  async readAll(response: UpstreamResponse): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) {
          response.body.destroy();
          throw new AppError('upstream_error', 'The generation upstream answered with too much data.');
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw transportError(error);
    }
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
