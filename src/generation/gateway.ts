import type { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { openAIErrorBody, type OpenAIErrorBody } from '../http/openai-errors.js';
import { promptEstimate } from '../consent/budget-rules.js';
import { completionTextBytes, Meter, NOTHING, unmeasuredCharge, type Measured, type Unmeasured } from './meter.js';
import { isObject, parseJson } from './json.js';
import { relayEvents } from './relay.js';
import { transportError, type UpstreamClient, type UpstreamResponse } from './upstream.js';
import type { Principal, UsageEntry, UsageService } from './usage.js';
import type { Telemetry } from '../http/telemetry.js';
import type { BudgetGuard, Held, Refused } from './budget-guard.js';
import type { BudgetState } from '../consent/budgets.js';

export interface GatewayDeps {
  upstream: UpstreamClient;
  usage: UsageService;
  /** The client's display name for usage rows; null for API-key calls. */
  clientName: (clientId: string) => Promise<string | null>;
  now: () => number;
  /** Aborted at shutdown when in-flight work must end: open streams end with an error event, metered. */
  ending?: AbortSignal;
  telemetry?: Telemetry;
  /** Budgets inside the grant (SPEC §10); absent, nothing is budgeted. */
  budget?: BudgetGuard;
  /** How long a stream the app left is read on for its usage (UPSTREAM_TIMEOUT). */
  drainMs: number;
}

type Json = Record<string, unknown>;

/** What the app is answered: the upstream's JSON as it came, an error of its own, or an event stream. */
export type GatewayResult =
  | { kind: 'json'; status: number; body: Buffer; headers?: Record<string, string> }
  | { kind: 'error'; status: number; body: OpenAIErrorBody; headers?: Record<string, string> }
  | { kind: 'stream'; events: Readable; headers?: Record<string, string> };

/** A call's budget, when its grant has one (budget-guard.ts). */
interface Budgeted {
  held: Held | null;
  settled: BudgetState | null;
}

/** The status a failed upstream answer is recorded with: what the app receives. */
function upstreamFailureStatus(status: number): number {
  return status >= 500 || status === 401 || status === 403 || status < 400 ? 502 : status;
}

const modelOf = (body: Json) => (typeof body.model === 'string' ? body.model : null);

/**
 * The generation gateway (SPEC §5): one implementation behind the OAuth and
 * API-key routes, free of HTTP framework: it calls the upstream, meters the
 * call and says what to answer (routes.ts writes it). Upstream failures map
 * to 502 (5xx, garbage, dropped, or its 401/403: Serika's own key failing),
 * 504 (silent past UPSTREAM_TIMEOUT), other 4xx passed on.
 */
export class Gateway {
  /** Streams not yet charged, each settled once its usage row has committed (or failed to). */
  private readonly open = new Set<Promise<void>>();

  constructor(private readonly deps: GatewayDeps) {}

  async models(signal: AbortSignal): Promise<GatewayResult> {
    const response = await this.deps.upstream.send('GET', '/models', undefined, signal);
    const body = await this.deps.upstream.readAll(response);
    if (response.statusCode >= 300) return rejected(response.statusCode, body);
    const json = parseJson(body);
    if (!isObject(json) || !Array.isArray(json.data)) throw new AppError('upstream_error', 'The generation upstream answered with something that is not a model list.');
    return { kind: 'json', status: 200, body };
  }

  async images(principal: Principal, body: Json, signal: AbortSignal): Promise<GatewayResult> {
    const entered = await this.deps.budget?.enter(principal, 'images', body);
    if (entered && 'status' in entered) return this.refused(principal, 'images.generations', body, entered);
    const budgeted: Budgeted = { held: entered ?? null, settled: null };
    return this.buffered(this.meter(principal, 'images.generations', body, budgeted), '/images/generations', body, signal, budgeted, (json) => {
      // An image call is charged its images (data.length) whether or not tokens are reported.
      const usage = isObject(json.usage) ? json.usage : {};
      return {
        promptTokens: Number(usage.input_tokens ?? usage.prompt_tokens ?? 0),
        completionTokens: Number(usage.output_tokens ?? usage.completion_tokens ?? 0),
        images: Array.isArray(json.data) ? json.data.length : 0,
      };
    });
  }

  async chat(principal: Principal, body: Json, signal: AbortSignal): Promise<GatewayResult> {
    const entered = await this.deps.budget?.enter(principal, 'chat', body);
    if (entered && 'status' in entered) return this.refused(principal, 'chat.completions', body, entered);
    const budgeted: Budgeted = { held: entered ?? null, settled: null };
    const sent = budgeted.held?.body ?? body;
    const meter = this.meter(principal, 'chat.completions', sent, budgeted);
    if (sent.stream === true) return this.stream(meter, sent, signal, budgeted);
    return this.buffered(meter, '/chat/completions', sent, signal, budgeted, (json, raw) => {
      const usage = json.usage;
      // An answer without its usage is charged as a stream whose usage never came (SPEC §10).
      if (!isObject(usage)) return unmeasuredCharge(unmeasured(body, budgeted), completionTextBytes(raw.toString('utf8')));
      return { promptTokens: Number(usage.prompt_tokens ?? 0), completionTokens: Number(usage.completion_tokens ?? 0), images: 0 };
    });
  }

  /** Waits for the charging of streams still being read (those the app left are read on, up to drainMs, or until `ending`). */
  async close(): Promise<void> {
    await Promise.all(this.open);
  }

  private meter(principal: Principal, endpoint: UsageEntry['endpoint'], body: Json, budgeted?: Budgeted): Meter {
    return new Meter({ principal, endpoint, model: modelOf(body) }, (entry) => this.record(entry, budgeted), this.deps.now);
  }

  private async buffered(meter: Meter, path: string, body: Json, signal: AbortSignal, budgeted: Budgeted, measure: (json: Json, raw: Buffer) => Measured): Promise<GatewayResult> {
    let response: UpstreamResponse;
    let raw: Buffer;
    try {
      response = await this.deps.upstream.send('POST', path, body, signal);
      raw = await this.deps.upstream.readAll(response);
    } catch (error) {
      const failure = error instanceof AppError ? error : transportError(error);
      await meter.charge(signal.aborted ? 499 : failure.status);
      throw failure;
    }
    if (response.statusCode >= 300) {
      await meter.charge(upstreamFailureStatus(response.statusCode));
      return rejected(response.statusCode, raw);
    }
    const json = parseJson(raw);
    if (!isObject(json)) {
      await meter.charge(502);
      throw new AppError('upstream_error', 'The generation upstream answered with something that is not JSON.');
    }
    await meter.charge(200, measure(json, raw));
    const { held } = budgeted;
    return held ? { kind: 'json', status: 200, body: raw, headers: held.headers(budgeted.settled) } : { kind: 'json', status: 200, body: raw };
  }

  /**
   * stream: true — server-sent events passed on chunk by chunk. Serika asks for
   * the usage chunk itself when the app did not, and then strips it.
   */
  private async stream(meter: Meter, body: Json, signal: AbortSignal, budgeted: Budgeted): Promise<GatewayResult> {
    const options = isObject(body.stream_options) ? body.stream_options : {};
    const appAskedUsage = options.include_usage === true;
    const upstreamBody = appAskedUsage ? body : { ...body, stream_options: { ...options, include_usage: true } };

    let response: UpstreamResponse;
    try {
      // Not aborted when the app goes away: a stream the app leaves is read on for its usage (relay.ts).
      response = await this.deps.upstream.send('POST', '/chat/completions', upstreamBody);
    } catch (error) {
      await meter.charge(error instanceof AppError ? error.status : 502);
      throw error;
    }
    if (response.statusCode >= 300) {
      const raw = await this.deps.upstream.readAll(response).catch(() => Buffer.alloc(0));
      await meter.charge(upstreamFailureStatus(response.statusCode));
      return rejected(response.statusCode, raw);
    }
    if (!String(response.headers['content-type'] ?? '').includes('text/event-stream')) {
      response.body.destroy();
      await meter.charge(502);
      throw new AppError('upstream_error', 'The generation upstream did not answer with an event stream.');
    }
    const headers = budgeted.held ? budgeted.held.headers(budgeted.held.state) : undefined;
    const events = relayEvents(response, meter, { appAskedUsage, signal, ending: this.deps.ending, drainMs: this.deps.drainMs, unmeasured: unmeasured(body, budgeted) });
    this.deps.telemetry?.streamOpened(events);
    const charged = meter.recorded().catch(() => {});
    this.open.add(charged);
    void charged.then(() => this.open.delete(charged));
    return { kind: 'stream', events, ...(headers ? { headers } : {}) };
  }

  /** A call the budget refused: recorded (charged nothing) so the usage page can mark the day, never sent upstream. */
  private async refused(principal: Principal, endpoint: UsageEntry['endpoint'], body: Json, refusal: Refused): Promise<GatewayResult> {
    const clientName = principal.clientId ? await this.deps.clientName(principal.clientId) : null;
    const { promptTokens, completionTokens, images } = NOTHING;
    await this.deps.usage.record({ principal, clientName, endpoint, model: modelOf(body), promptTokens, completionTokens, images, status: refusal.status, latencyMs: 0 });
    return { kind: 'error', ...refusal };
  }

  /** The call's usage row; a budgeted call's settlement commits with it (one transaction). */
  private async record(entry: UsageEntry, budgeted?: Budgeted): Promise<void> {
    this.deps.telemetry?.upstream(entry.endpoint, entry.status, entry.latencyMs / 1000);
    if (entry.principal.clientId) entry.clientName = await this.deps.clientName(entry.principal.clientId);
    const held = budgeted?.held;
    if (!held) await this.deps.usage.record(entry);
    else budgeted.settled = await held.settle(entry, (trx) => this.deps.usage.record(entry, trx));
    // Counted once the row has committed: the metric and the usage table agree.
    this.deps.telemetry?.generated(entry.model, entry);
  }
}

/**
 * What a chat call whose usage never comes is charged (SPEC §10): a budgeted call its whole reservation. An
 * unbudgeted one (an API key, or a grant with no token limit) has no reservation, and charging it nothing would
 * under-report what the upstream bills, so it is charged an estimate that errs high, as the reservation does:
 * the prompt estimate of §10 plus the completion text the upstream sent so far, its UTF-8 bytes ÷ 2 rounded up
 * (tokenizers count about a token per 4 bytes of English, a token per CJK character of 3 bytes, so ÷ 2 errs
 * high for text). Reasoning a model does not show is not in it: only its usage can tell.
 */
function unmeasured(body: Json, budgeted: Budgeted): Unmeasured {
  if (budgeted.held) return budgeted.held.reserved;
  return (completionBytes) => ({ promptTokens: promptEstimate(body), completionTokens: Math.ceil(completionBytes / 2), images: 0 });
}

/** Non-2xx from the upstream: its 4xx passed on, its 401/403 and 5xx a 502. */
function rejected(status: number, raw: Buffer): GatewayResult {
  if (status === 401 || status === 403) throw new AppError('upstream_error', "The generation upstream refused Serika's credentials (UPSTREAM_API_KEY).");
  if (status < 400 || status >= 500) throw new AppError('upstream_error', `The generation upstream failed (status ${status}).`);
  const json = parseJson(raw);
  if (isObject(json) && isObject(json.error)) {
    const e = json.error;
    return {
      kind: 'error',
      status,
      body: {
        error: {
          message: typeof e.message === 'string' ? e.message : `The generation upstream refused the request (status ${status}).`,
          type: typeof e.type === 'string' ? e.type : 'invalid_request_error',
          param: typeof e.param === 'string' ? e.param : null,
          code: typeof e.code === 'string' ? e.code : null,
        },
      },
    };
  }
  return { kind: 'error', status, body: openAIErrorBody(new AppError('invalid_request', `The generation upstream refused the request (status ${status}).`)) };
}
