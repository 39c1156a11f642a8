import { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { openAIErrorBody } from '../http/openai-errors.js';
import { isObject, parseJson } from './json.js';
import type { Meter, Measured } from './meter.js';
import { SseSplitter, type SseEvent } from './sse.js';
import { transportError, type UpstreamResponse } from './upstream.js';

/** A `usage` key whose value is an object (outside a JSON string a quote is never escaped, so this is a key). */
const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** A streamed chunk whose usage is an object (with include_usage every chunk says `"usage":null`: only that one is parsed). */
function usageChunk(data: string | null): Record<string, unknown> | null {
  if (!data || !USAGE_OBJECT.test(data)) return null;
  const json = parseJson(data);
  return isObject(json) && isObject(json.usage) ? json : null;
}

/**
 * The upstream's events as they come, as the stream the reply pipes to the
 * app: the usage chunk measured (and dropped when Serika asked for it), the
 * usage committed before the app sees `[DONE]`, and the call charged once
 * however it ends (499 when the app went away, the failure's status with an
 * error event when the upstream failed or Serika shuts down).
 *
 * Events are pushed from the upstream body's own `data` events; the body is
 * paused while the app reads slower than the upstream writes and while the
 * usage commits. (An async generator read through `Readable.from` cost
 * promise round trips per event in both: a quarter of a stream's main thread.)
 */
export function relayEvents(response: UpstreamResponse, meter: Meter, appAskedUsage: boolean, signal: AbortSignal, ending?: AbortSignal): Readable {
  const body = response.body;
  const splitter = new SseSplitter();
  const measured: Measured = { promptTokens: 0, completionTokens: 0, images: 0 };
  let committing = false;
  let committed = false;
  let over = false;

  const endNow = () => body.destroy(new Error('Serika is shutting down'));
  /** Nothing more comes from the upstream: no resuming it, no shutdown to watch for. */
  const finish = () => {
    over = true;
    ending?.removeEventListener('abort', endNow);
  };
  const out = new Readable({
    read() {
      if (!committing && !over) body.resume();
    },
    destroy(error, callback) {
      finish();
      // The app went away (or the reply failed): the upstream call ends, and is charged nothing.
      if (!body.destroyed) body.destroy();
      meter.charge(499).then(
        () => callback(error),
        (failure: unknown) => callback((error ?? failure) as Error),
      );
    },
  });
  const fail = (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error)));

  /** Forwards events from `from` on; stops, paused, at `[DONE]` until the usage has committed. */
  const forward = (events: SseEvent[], from: number): void => {
    for (let i = from; i < events.length; i++) {
      const event = events[i]!;
      if (event.data === '[DONE]' && !committed) {
        committing = true;
        body.pause();
        meter.charge(200, measured).then(() => {
          committed = true;
          committing = false;
          forward(events, i);
          if (!committing && !over && out.readableLength < out.readableHighWaterMark) body.resume();
        }, fail);
        return;
      }
      const withUsage = usageChunk(event.data);
      if (withUsage) {
        const usage = withUsage.usage as Record<string, unknown>;
        measured.promptTokens = Number(usage.prompt_tokens ?? 0);
        measured.completionTokens = Number(usage.completion_tokens ?? 0);
        if (!appAskedUsage && Array.isArray(withUsage.choices) && withUsage.choices.length === 0) continue;
      }
      if (!out.push(event.raw)) body.pause();
    }
  };

  body.on('data', (chunk: Buffer) => forward(splitter.push(chunk), 0));
  // The body may end while the usage commits before [DONE] (its end does not wait for a paused reader): charge()
  // then answers with that commit, after the events held behind it have gone out.
  body.on('end', () => {
    meter.charge(200, measured).then(() => {
      finish();
      for (const event of splitter.end()) out.push(event.raw);
      out.push(null);
    }, fail);
  });
  body.on('error', (error: unknown) => {
    if (over) return;
    finish();
    if (signal.aborted) {
      // The app went away: nothing charged, nothing more to say.
      meter.charge(499).then(() => out.push(null), fail);
      return;
    }
    const failure = ending?.aborted ? new AppError('service_unavailable', 'Serika is shutting down and ended this stream; retry the request.') : transportError(error);
    meter.charge(failure.status).then(() => {
      out.push(`data: ${JSON.stringify(openAIErrorBody(failure))}\n\n`);
      out.push(null);
    }, fail);
  });
  if (ending?.aborted) endNow();
  else ending?.addEventListener('abort', endNow, { once: true });
  return out;
}
