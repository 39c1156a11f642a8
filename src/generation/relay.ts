import { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { openAIErrorBody } from '../http/openai-errors.js';
import { isObject, parseJson } from './json.js';
import { completionTextBytes, unmeasuredCharge, type Meter, type Measured, type Unmeasured } from './meter.js';
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

export interface RelayOptions {
  /** The app asked for the usage chunk itself (else Serika asked for it and strips it). */
  appAskedUsage: boolean;
  /** Aborted when the app goes away. */
  signal: AbortSignal;
  /** Aborted at shutdown when in-flight work must end. */
  ending?: AbortSignal;
  /** How long Serika keeps reading a stream the app left, for its usage (UPSTREAM_TIMEOUT). */
  drainMs: number;
  /** What the call is charged when its usage never comes. */
  unmeasured: Unmeasured;
}

/**
 * The upstream's events as they come, as the stream the reply pipes to the
 * app: the usage chunk measured (and dropped when Serika asked for it), the
 * usage committed before the app sees `[DONE]`, and the call charged once
 * however it ends.
 *
 * SPEC §10: a stream the app leaves before its end is still charged. Serika
 * keeps reading the upstream (up to `drainMs`) for the usage, and charges it,
 * or when none comes the `unmeasured` charge; the row says 499. A stream cut
 * by shutdown is charged the same way (503, with an error event); one the
 * upstream fails is charged nothing (SPEC §5), with an error event.
 *
 * Events are pushed from the upstream body's own `data` events; the body is
 * paused while the app reads slower than the upstream writes and while the
 * usage commits. (Not an async generator through `Readable.from`: promise
 * round trips per event; bench/NOTES.md.)
 */
export function relayEvents(response: UpstreamResponse, meter: Meter, options: RelayOptions): Readable {
  const { appAskedUsage, signal, ending, drainMs, unmeasured } = options;
  const body = response.body;
  const splitter = new SseSplitter();
  // Only an estimate needs the completion text counted: a budgeted call's fallback is its reservation.
  const countText = typeof unmeasured === 'function';
  let usage: Measured | null = null;
  let textBytes = 0;
  let committing = false;
  let committed = false;
  let over = false;
  /** The app went away: nothing more is pushed, the upstream is read on for its usage. */
  let left = false;
  let drainTimer: NodeJS.Timeout | undefined;

  const charged = () => usage ?? unmeasuredCharge(unmeasured, textBytes);
  const endNow = () => body.destroy(new Error('Serika is shutting down'));
  /** Nothing more comes from the upstream: no resuming it, nothing to watch for. */
  const finish = () => {
    over = true;
    clearTimeout(drainTimer);
    ending?.removeEventListener('abort', endNow);
    signal.removeEventListener('abort', leave);
  };
  /** The app left: charged when the usage comes, or the upstream ends, fails or outlasts drainMs. */
  const drained = () => {
    finish();
    if (!body.destroyed) body.destroy();
    // A failure to record reaches the log through the reply's stream: its destroy() waits for the recording.
    meter.charge(499, charged()).catch(() => {});
    out.destroy();
  };
  function leave(): void {
    if (left || over) return;
    left = true;
    signal.removeEventListener('abort', leave);
    if (ending?.aborted) return drained();
    drainTimer = setTimeout(drained, drainMs);
    if (!committing) body.resume();
  }

  const out = new Readable({
    read() {
      if (!committing && !over && !left) body.resume();
    },
    destroy(error, callback) {
      // The app went away (or the reply failed): the call is read to its usage and charged first.
      leave();
      meter.recorded().then(
        () => callback(error),
        (failure: unknown) => callback((error ?? failure) as Error),
      );
    },
  });
  const fail = (error: unknown) => {
    finish();
    if (!body.destroyed) body.destroy();
    out.destroy(error instanceof Error ? error : new Error(String(error)));
  };

  /** Forwards events from `from` on; stops, paused, at `[DONE]` until the usage has committed. */
  const forward = (events: SseEvent[], from: number): void => {
    for (let i = from; i < events.length; i++) {
      const event = events[i]!;
      if (event.data === '[DONE]' && !committed) {
        if (left) return drained();
        committing = true;
        body.pause();
        meter.charge(200, charged()).then(() => {
          committed = true;
          committing = false;
          forward(events, i);
          if (!committing && !over && (left || out.readableLength < out.readableHighWaterMark)) body.resume();
        }, fail);
        return;
      }
      const withUsage = usageChunk(event.data);
      if (withUsage) {
        const reported = withUsage.usage as Record<string, unknown>;
        usage = { promptTokens: Number(reported.prompt_tokens ?? 0), completionTokens: Number(reported.completion_tokens ?? 0), images: 0 };
        if (left) return drained();
        if (!appAskedUsage && Array.isArray(withUsage.choices) && withUsage.choices.length === 0) continue;
      } else if (countText && event.data) textBytes += completionTextBytes(event.data);
      if (!left && !out.push(event.raw)) body.pause();
    }
  };

  body.on('data', (chunk: Buffer) => forward(splitter.push(chunk), 0));
  // The body may end while the usage commits before [DONE] (its end does not wait for a paused reader): charge()
  // then answers with that commit, after the events held behind it have gone out.
  body.on('end', () => {
    if (over) return;
    if (left) return drained();
    meter.charge(200, charged()).then(() => {
      finish();
      for (const event of splitter.end()) out.push(event.raw);
      out.push(null);
    }, fail);
  });
  body.on('error', (error: unknown) => {
    if (over) return;
    if (left) return drained();
    finish();
    // Cut by shutdown: the app had what came so far, and is charged for it (SPEC §10). An upstream that failed: nothing (SPEC §5).
    const cut = ending?.aborted === true;
    const failure = cut ? new AppError('service_unavailable', 'Serika is shutting down and ended this stream; retry the request.') : transportError(error);
    meter.charge(failure.status, cut ? charged() : undefined).then(() => {
      out.push(`data: ${JSON.stringify(openAIErrorBody(failure))}\n\n`);
      out.push(null);
    }, fail);
  });
  if (ending?.aborted) endNow();
  else ending?.addEventListener('abort', endNow, { once: true });
  if (signal.aborted) leave();
  else signal.addEventListener('abort', leave, { once: true });
  return out;
}
