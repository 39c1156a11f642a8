import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { completionTextBytes, Meter, type Unmeasured } from '../../src/generation/meter.js';
import { CHAT, RESPONSES } from '../../src/generation/call-kinds.js';
import { relayEvents, type RelayOptions } from '../../src/generation/relay.js';
import type { UpstreamResponse } from '../../src/generation/upstream.js';
import type { UsageEntry } from '../../src/generation/usage.js';
import { sleep, until } from '../helpers/until.js';

const WORD = 'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n';
const FINISH = 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n';
const USAGE = 'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n';
const DONE = 'data: [DONE]\n\n';
/** A budgeted call's reservation: what it is charged when its usage never comes. */
const RESERVED = { promptTokens: 10, completionTokens: 90, images: 0 };

/** An upstream answer whose body yields these chunks and ends at once. */
const upstream = (chunks: string[]) => ({ statusCode: 200, headers: {}, body: Readable.from(chunks.map((c) => Buffer.from(c))) }) as unknown as UpstreamResponse;
/** An upstream answer the test writes to as it goes. */
const live = () => {
  const body = new PassThrough();
  return { body, response: { statusCode: 200, headers: {}, body } as unknown as UpstreamResponse };
};

/** A meter whose commit takes `ms`, logging when it has committed. */
function slowMeter(log: string[], ms: number): Meter {
  const record = async (entry: UsageEntry) => {
    await sleep(ms); // a slow database is the point: the relay must not end the stream before the commit
    log.push(`committed ${entry.status} ${entry.promptTokens}+${entry.completionTokens}`);
  };
  return new Meter({ principal: { userId: 'user_1', clientId: 'client_1', apiKeyId: null }, endpoint: 'chat.completions', model: 'm' }, record, Date.now);
}

/** A chat stream's reader (a fresh one per stream: it keeps what it read). */
const chatReader = (appAskedUsage: boolean) => CHAT.stream!({ stream: true, ...(appAskedUsage ? { stream_options: { include_usage: true } } : {}) }).reader;

const options = (over: Partial<RelayOptions> = {}): RelayOptions => ({
  reader: chatReader(false),
  textBytes: completionTextBytes,
  signal: new AbortController().signal,
  drainMs: 5_000,
  unmeasured: RESERVED,
  ...over,
});

async function relay(chunks: string[], appAskedUsage: boolean, log: string[], unmeasured: Unmeasured = RESERVED): Promise<void> {
  const out = relayEvents(upstream(chunks), slowMeter(log, 30), options({ reader: chatReader(appAskedUsage), unmeasured }));
  out.on('data', (chunk: Buffer) => log.push(`sent ${chunk.toString().trim()}`));
  await new Promise((resolve, reject) => out.on('end', resolve).on('error', reject));
  log.push('end');
}

/** Resolves once the meter has logged a commit. */
const committed = (log: string[]): Promise<string> => until(() => log.find((l) => l.startsWith('committed')), { intervalMs: 5, message: 'the meter to commit' });

describe('the streamed chat relay', () => {
  it('holds [DONE] and the end of the reply until the usage has committed, though the upstream ends meanwhile', async () => {
    const log: string[] = [];
    // The usage chunk, [DONE] and the upstream's end arrive together, as most upstreams send them.
    await relay([WORD, USAGE + DONE], false, log);
    expect(log).toEqual([`sent ${WORD.trim()}`, 'committed 200 3+4', `sent ${DONE.trim()}`, 'end']);
  });

  it('passes the usage chunk on when the app asked for it, and charges once when the upstream sends no [DONE]', async () => {
    const log: string[] = [];
    await relay([WORD, USAGE], true, log);
    expect(log).toEqual([`sent ${WORD.trim()}`, `sent ${USAGE.trim()}`, 'committed 200 3+4', 'end']);
  });

  it('a Responses API stream: response.completed, usage and all, reaches the app only after its usage has committed; the response id is read', async () => {
    const log: string[] = [];
    const created = 'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1","status":"in_progress","usage":null}}\n\n';
    const delta = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi \\"type\\":\\"response.completed\\""}\n\n';
    const completed = 'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":3,"output_tokens":5}}}\n\n';
    const reader = RESPONSES.stream!({ stream: true }).reader;
    const out = relayEvents(upstream([created + delta, completed]), slowMeter(log, 30), options({ reader, textBytes: RESPONSES.textBytes }));
    out.on('data', (chunk: Buffer) => log.push(`sent ${chunk.toString().split('\n')[0]}`));
    await new Promise((resolve, reject) => out.on('end', resolve).on('error', reject));
    expect(log).toEqual(['sent event: response.created', 'sent event: response.output_text.delta', 'committed 200 3+5', 'sent event: response.completed']);
    expect(reader.responseId).toBe('resp_1');
  });

  it('a Responses API stream the upstream ends with an error event is charged nothing (SPEC §5), the event passed on', async () => {
    const log: string[] = [];
    const created = 'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_2","status":"in_progress","usage":null}}\n\n';
    const delta = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"half"}\n\n';
    const error = 'event: error\ndata: {"type":"error","code":"server_error","message":"The model failed.","param":null}\n\n';
    const reader = RESPONSES.stream!({ stream: true }).reader;
    const out = relayEvents(upstream([created + delta, error]), slowMeter(log, 10), options({ reader, textBytes: RESPONSES.textBytes }));
    out.on('data', (chunk: Buffer) => log.push(`sent ${chunk.toString().split('\n')[0]}`));
    await new Promise((resolve, reject) => out.on('end', resolve).on('error', reject));
    expect(log).toEqual(['sent event: response.created', 'sent event: response.output_text.delta', 'committed 200 0+0', 'sent event: error']);
  });

  it('charges a stream that ends without its usage the reservation, or the estimate of an unbudgeted call', async () => {
    const log: string[] = [];
    await relay([WORD, FINISH + DONE], false, log);
    expect(log).toContain('committed 200 10+90');
    const estimated: string[] = [];
    await relay([WORD, WORD, FINISH + DONE], false, estimated, (bytes) => ({ promptTokens: 7, completionTokens: Math.ceil(bytes / 2), images: 0 }));
    expect(estimated).toContain('committed 200 7+2');
  });

  it('a stream the app leaves at finish_reason is read on: the usage that comes after is charged (499)', async () => {
    const log: string[] = [];
    const { body, response } = live();
    const out = relayEvents(response, slowMeter(log, 5), options());
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    // The reply's stream closes only once the call is charged.
    const closed = new Promise((resolve) => out.on('close', () => resolve(log.slice())));
    body.write(WORD + FINISH);
    await until(() => text.includes('finish_reason'), { intervalMs: 1, message: 'the app to be sent the finish_reason chunk' });
    out.destroy();
    body.write(USAGE);
    body.end(DONE);
    expect(await closed).toEqual(['committed 499 3+4']);
  });

  it('a stream the app leaves whose usage never comes is charged the reservation when it ends, or when drainMs has passed', async () => {
    const ended: string[] = [];
    const first = live();
    const out = relayEvents(first.response, slowMeter(ended, 5), options());
    first.body.write(WORD);
    out.destroy();
    first.body.end(FINISH + DONE);
    expect(await committed(ended)).toBe('committed 499 10+90');

    const cut: string[] = [];
    const second = live();
    const endless = relayEvents(second.response, slowMeter(cut, 5), options({ drainMs: 50 }));
    second.body.write(WORD);
    endless.destroy();
    second.body.write(WORD);
    expect(await committed(cut)).toBe('committed 499 10+90');
    expect(second.body.destroyed).toBe(true);
  });

  it('a stream cut by shutdown ends with an error event and is charged: the estimate of what was delivered when unbudgeted', async () => {
    const log: string[] = [];
    const ending = new AbortController();
    const { body, response } = live();
    const out = relayEvents(response, slowMeter(log, 5), options({ ending: ending.signal, unmeasured: (bytes) => ({ promptTokens: 7, completionTokens: Math.ceil(bytes / 2), images: 0 }) }));
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    body.write(WORD + WORD + WORD);
    await until(() => text.split('"hi"').length === 4, { intervalMs: 1, message: 'the app to be sent the three words' });
    ending.abort();
    await new Promise((resolve) => out.on('end', resolve));
    expect(log).toEqual(['committed 503 7+3']);
    expect(text).toMatch(/data: \{"error":\{"message":"Serika is shutting down/);
  });

  it('an upstream that fails mid-stream is charged nothing, with an error event', async () => {
    const log: string[] = [];
    const { body, response } = live();
    const out = relayEvents(response, slowMeter(log, 5), options());
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    body.write(WORD);
    await until(() => text.includes('"hi"'), { intervalMs: 1, message: 'the app to be sent the first word' });
    body.destroy(new Error('socket hang up'));
    await new Promise((resolve) => out.on('end', resolve));
    expect(log).toEqual(['committed 502 0+0']);
    expect(text).toContain('"error"');
  });

  it('counts the completion text of answers and chunks, escapes included (erring high)', () => {
    expect(completionTextBytes('{"choices":[{"delta":{"content":"héllo"}}]}')).toBe(6);
    expect(completionTextBytes('{"choices":[{"message":{"content":"a\\"b","tool_calls":[{"function":{"name":"f","arguments":"{\\"x\\":1}"}}]}}]}')).toBe(4 + 9);
    expect(completionTextBytes('{"choices":[{"delta":{"content":null}}]}')).toBe(0);
  });
});
