/**
 * Splits a server-sent-events byte stream into events, keeping each event's
 * raw text so it can be forwarded byte for byte, plus its joined `data`.
 */
export interface SseEvent {
  raw: string;
  data: string | null;
}

export class SseSplitter {
  private buffer = '';
  private readonly decoder = new TextDecoder('utf-8');

  push(chunk: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    return this.drain(false);
  }

  /** Whatever remains when the stream ends (an event without its blank line). */
  end(): SseEvent[] {
    this.buffer += this.decoder.decode();
    return this.drain(true);
  }

  private drain(final: boolean): SseEvent[] {
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(this.buffer);
      if (!match) break;
      const end = match.index + match[0].length;
      events.push(parse(this.buffer.slice(0, end)));
      this.buffer = this.buffer.slice(end);
    }
    if (final && this.buffer.trim() !== '') {
      events.push(parse(this.buffer + '\n\n'));
      this.buffer = '';
    }
    return events;
  }
}

/** One `data:` line and its blank line, as upstreams send nearly every event: read without splitting into lines. */
const SINGLE_DATA_LINE = /^data: ?([^\r\n]*)\n\n$/;

function parse(raw: string): SseEvent {
  const single = SINGLE_DATA_LINE.exec(raw);
  if (single) return { raw, data: single[1]! };
  const data = raw
    .split(/\r\n|\n|\r/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).replace(/^ /, ''));
  return { raw, data: data.length ? data.join('\n') : null };
}
