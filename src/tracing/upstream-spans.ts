import type { Readable } from 'node:stream';
import { errorTypeOf, type Tracing } from './tracing.js';

export interface UpstreamCall {
  method: string;
  /** The upstream's origin (scheme, host, port: never credentials). */
  origin: string;
  /** The full path asked for (base path and endpoint). */
  path: string;
  /** The endpoint below the base URL (`/chat/completions`), the span's name with the method. */
  endpoint: string;
  /** The model the call names, when it names one. */
  model: string | null;
}

/**
 * A call to the generation upstream as a CLIENT span (the HTTP client
 * conventions, and `gen_ai.request.model`): from the request until its
 * answer has been read to the end or dropped, so a stream's span lasts as
 * long as the stream. The upstream is sent `traceparent`, so a provider that
 * traces (vLLM, LiteLLM) joins the trace. (undici runs the body's events in
 * the request's async scope, so the usage row written as a stream ends is a
 * statement of the request, not a trace of its own.)
 */
export async function traceUpstream<R extends { statusCode: number; body: Readable }>(
  tracing: Tracing,
  call: UpstreamCall,
  headers: Readonly<Record<string, string>>,
  send: (headers: Readonly<Record<string, string>>) => Promise<R>,
): Promise<R> {
  const url = new URL(call.origin);
  const started = tracing.clientSpan(`${call.method} ${call.endpoint}`, {
    'http.request.method': call.method,
    'server.address': url.hostname,
    'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    'url.full': call.origin + call.path,
    ...(call.model ? { 'gen_ai.request.model': call.model } : {}),
  });
  if (!started) return send(headers);
  const { span } = started;
  const traced = { ...headers };
  tracing.inject(started.context, traced);
  let response: R;
  try {
    response = await send(traced);
  } catch (error) {
    tracing.fail(span, errorTypeOf(error));
    span.end();
    throw error;
  }
  span.setAttribute('http.response.status_code', response.statusCode);
  if (response.statusCode >= 400) tracing.fail(span, String(response.statusCode));
  // A stream the upstream cuts fails its span; the body's reader sees the error as well (the listener only looks).
  response.body.once('error', (error: unknown) => tracing.fail(span, errorTypeOf(error)));
  response.body.once('close', () => span.end());
  return response;
}
