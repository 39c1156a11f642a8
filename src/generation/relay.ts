import { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { openAIErrorBody } from '../http/openai-errors.js';
import { DROP, FINAL, PASS, type StreamReader } from './call-kinds.js';
import { unmeasuredCharge, type Meter, type Unmeasured } from './meter.js';
import { SseSplitter, type SseEvent } from './sse.js';
import { transportError, type UpstreamResponse } from './upstream.js';

export interface RelayOptions {
  /** What the call's events are: its usage, its end, the events Serika drops (call-kinds.ts). */
  reader: StreamReader;
  /** The completion text bytes of an event (the estimate's, when countText). */
  textBytes: (data: string) => number;
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
 * app, for every kind of streamed call (chat, responses): the usage read by
 * the call's reader (a chat usage chunk Serika asked for dropped), the usage
 * committed before the app sees the final event (chat's `[DONE]`, a
 * response's `response.completed`), and the call charged once however it ends.
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
  const { reader, textBytes: bytesOf, signal, ending, drainMs, unmeasured } = options;
  const body = response.body;
  const splitter = new SseSplitter();
  // Only an estimate needs the completion text counted: a budgeted call's fallback is its reservation.
  const countText = typeof unmeasured === 'function';
  let textBytes = 0;
  let committing = false;
  let committed = false;
  let over = false;
  /** The app went away: nothing more is pushed, the upstream is read on for its usage. */
  let left = false;
  let drainTimer: NodeJS.Timeout | undefined;

  const charged = () => reader.usage ?? unmeasuredCharge(unmeasured, textBytes);
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

  /** Forwards events from `from` on; stops, paused, at the final event until the usage has committed. */
  const forward = (events: SseEvent[], from: number): void => {
    for (let i = from; i < events.length; i++) {
      const event = events[i]!;
      const data = event.data;
      // Read until the charge has committed: the final event, forwarded again once it has, is not read twice.
      const role = data === null || committed ? PASS : reader.read(data);
      if (countText && role === PASS && data !== null && reader.usage === null) textBytes += bytesOf(data);
      if (left) {
        if (role === FINAL || reader.usage) return drained();
        continue;
      }
      if (role === FINAL) {
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
      if (role === DROP) continue;
      if (!out.push(event.raw)) body.pause();
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
