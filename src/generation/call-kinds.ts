import type { BudgetedKind } from './budget-guard.js';
import { isObject, parseJson } from './json.js';
import { completionTextBytes, type Measured } from './meter.js';
import type { UsageEntry } from './usage.js';

type Json = Record<string, unknown>;

/** What a streamed event is to the relay: passed on, dropped (the usage chunk Serika asked for), or the end the charge commits before. */
export const PASS = 0;
export const DROP = 1;
export const FINAL = 2;
type EventRole = typeof PASS | typeof DROP | typeof FINAL;

/** Reads one call's event stream as it passes: its usage, its end, its response id (SPEC §5, §14). */
export interface StreamReader {
  /** Called with each event's data in order, until the charge has committed. */
  read(data: string): EventRole;
  /** The usage the upstream reported, once it has. */
  readonly usage: Measured | null;
  /** The id of the response the stream makes (Responses API), once seen. */
  readonly responseId: string | null;
}

/**
 * One kind of generation call as the gateway meters it (SPEC §5, §10, §14): where it goes upstream, how its
 * budget is reserved, how a buffered answer's usage is read, and, when it can stream, how its events are.
 */
export interface CallKind {
  endpoint: UsageEntry['endpoint'];
  path: string;
  budget: BudgetedKind;
  /** A buffered answer's usage; null when it reports none (then charged as a stream whose usage never came). */
  usageOf(json: Json): Measured | null;
  /** The UTF-8 bytes of completion text in an answer or event, for the estimate of a call whose usage never comes. */
  textBytes: (json: string) => number;
  /** The id of the response a buffered answer is, when the upstream keeps it (Responses API). */
  responseIdOf(json: Json): string | null;
  /** For a call with stream: true: the body sent upstream and the reader of its events; absent, it cannot stream. */
  stream?(body: Json): { upstreamBody: Json; reader: StreamReader };
}

const noResponse = () => null;

/** A `usage` key whose value is an object (outside a JSON string a quote is never escaped, so this is a key). */
const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** The usage of a chat answer or chunk, or of embeddings. */
function chatUsage(usage: Json): Measured {
  return { promptTokens: Number(usage.prompt_tokens ?? 0), completionTokens: Number(usage.completion_tokens ?? 0), images: 0 };
}

/**
 * Chat completion chunks: the usage chunk (with include_usage every chunk says `"usage":null`: only one whose
 * usage is an object is parsed) is measured, and dropped when Serika asked for it; `[DONE]` is the end.
 */
class ChatEvents implements StreamReader {
  usage: Measured | null = null;
  readonly responseId = null;
  constructor(private readonly appAskedUsage: boolean) {}

  read(data: string): EventRole {
    if (data === '[DONE]') return FINAL;
    if (!USAGE_OBJECT.test(data)) return PASS;
    const json = parseJson(data);
    if (!isObject(json) || !isObject(json.usage)) return PASS;
    this.usage = chatUsage(json.usage);
    return !this.appAskedUsage && Array.isArray(json.choices) && json.choices.length === 0 ? DROP : PASS;
  }
}

export const CHAT: CallKind = {
  endpoint: 'chat.completions',
  path: '/chat/completions',
  budget: 'chat',
  usageOf: (json) => (isObject(json.usage) ? chatUsage(json.usage) : null),
  textBytes: completionTextBytes,
  responseIdOf: noResponse,
  // Serika asks for the usage chunk itself when the app did not, and then strips it.
  stream(body) {
    const options = isObject(body.stream_options) ? body.stream_options : {};
    const appAskedUsage = options.include_usage === true;
    const upstreamBody = appAskedUsage ? body : { ...body, stream_options: { ...options, include_usage: true } };
    return { upstreamBody, reader: new ChatEvents(appAskedUsage) };
  },
};

/** The Responses API's usage (input and output tokens; reasoning is in the output). */
function responsesUsage(usage: Json): Measured {
  return { promptTokens: Number(usage.input_tokens ?? 0), completionTokens: Number(usage.output_tokens ?? 0), images: 0 };
}

/** The string values a model writes in a Responses API answer or event (text, its deltas, tool-call arguments, refusals). */
const RESPONSE_TEXT = /"(?:text|delta|arguments|refusal)"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"/g;

function responseTextBytes(json: string): number {
  let bytes = 0;
  RESPONSE_TEXT.lastIndex = 0;
  for (let match = RESPONSE_TEXT.exec(json); match !== null; match = RESPONSE_TEXT.exec(json)) bytes += Buffer.byteLength(match[1]!, 'utf8');
  return bytes;
}

/** The id of a response the upstream keeps: one made with `store: false` cannot be retrieved or continued, so has no owner to record. */
const keptId = (response: Json): string | null => (typeof response.id === 'string' && response.store !== false ? response.id : null);

/** The events that end a response: the terminal ones with the response (and its usage) in them, and the stream's `error`; `"type"` unescaped is a key, as for usage. */
const TERMINAL = /"type"\s*:\s*"(?:response\.(?:completed|incomplete|failed)|error)"/;
const CREATED = /"type"\s*:\s*"response\.created"/;

/**
 * Responses API events (`response.*`): the id from `response.created`, the usage from the terminal event
 * (`response.completed`, `.incomplete` or `.failed`), which is the end the charge commits before and is passed
 * on whole: nothing the app asked for is stripped. A failed response that reports no usage, or a stream ended by an
 * `error` event, is charged nothing.
 */
class ResponseEvents implements StreamReader {
  usage: Measured | null = null;
  responseId: string | null = null;

  read(data: string): EventRole {
    const terminal = TERMINAL.test(data);
    if (!terminal && (this.responseId !== null || !CREATED.test(data))) return PASS;
    const json = parseJson(data);
    const response = isObject(json) && isObject(json.response) ? json.response : null;
    if (response) this.responseId = keptId(response);
    if (!terminal) return PASS;
    if (response && isObject(response.usage)) this.usage = responsesUsage(response.usage);
    // SPEC §5: a call the upstream failed is charged nothing — `response.failed` without usage, or the stream's
    // top-level `error` event (one that ends it without a response).
    else if (response?.status === 'failed' || (isObject(json) && json.type === 'error')) this.usage = { promptTokens: 0, completionTokens: 0, images: 0 };
    else if (!response) return PASS; // a nested "type":"error", not the stream's own event
    return FINAL;
  }
}

export const RESPONSES: CallKind = {
  endpoint: 'responses',
  path: '/responses',
  budget: 'responses',
  usageOf: (json) => (isObject(json.usage) ? responsesUsage(json.usage) : null),
  textBytes: responseTextBytes,
  responseIdOf: keptId,
  stream: (body) => ({ upstreamBody: body, reader: new ResponseEvents() }),
};

/** Embeddings are charged their prompt tokens; an answer without usage, the estimate of its input. */
export const EMBEDDINGS: CallKind = {
  endpoint: 'embeddings',
  path: '/embeddings',
  budget: 'embeddings',
  usageOf: (json) => (isObject(json.usage) ? { promptTokens: Number(json.usage.prompt_tokens ?? 0), completionTokens: 0, images: 0 } : null),
  textBytes: () => 0,
  responseIdOf: noResponse,
};

/** An image call is charged its images (data.length) whether or not tokens are reported. */
export const IMAGES: CallKind = {
  endpoint: 'images.generations',
  path: '/images/generations',
  budget: 'images',
  usageOf(json) {
    const usage = isObject(json.usage) ? json.usage : {};
    return {
      promptTokens: Number(usage.input_tokens ?? usage.prompt_tokens ?? 0),
      completionTokens: Number(usage.output_tokens ?? usage.completion_tokens ?? 0),
      images: Array.isArray(json.data) ? json.data.length : 0,
    };
  },
  textBytes: () => 0,
  responseIdOf: noResponse,
};
