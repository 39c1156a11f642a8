import { AppError } from '../errors.js';
import { promptEstimate } from '../consent/budget-rules.js';
import { CHAT, EMBEDDINGS, IMAGES, RESPONSES, type CallKind, type StreamReader } from './call-kinds.js';
import { Meter, NOTHING, unmeasuredCharge, type Measured, type Unmeasured } from './meter.js';
import { isObject, parseJson } from './json.js';
import { relayEvents } from './relay.js';
import type { ResponseOwners } from './response-owners.js';
import { rejected, upstreamFailureStatus, type GatewayResult } from './results.js';
import type { StoredResponses } from './stored-responses.js';
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
  /** Who made each upstream response (SPEC §14): written with the usage row of the call that made it. */
  owners: ResponseOwners;
  /** What a Responses API call may refer to (SPEC §14). */
  stored: StoredResponses;
}

type Json = Record<string, unknown>;

/** A call's budget, when its grant has one (budget-guard.ts). */
interface Budgeted {
  held: Held | null;
  settled: BudgetState | null;
}

const modelOf = (body: Json) => (typeof body.model === 'string' ? body.model : null);

/**
 * The generation gateway (SPEC §5, §14): one implementation behind the OAuth and
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
    return this.generate(IMAGES, principal, body, signal);
  }

  async chat(principal: Principal, body: Json, signal: AbortSignal): Promise<GatewayResult> {
    return this.generate(CHAT, principal, body, signal);
  }

  /** SPEC §14: the Responses API; a previous_response_id only of the caller's own, its tokens part of the prompt estimate. */
  async responses(principal: Principal, body: Json, signal: AbortSignal): Promise<GatewayResult> {
    const previous = await this.deps.stored.admit(principal, body);
    return this.generate(RESPONSES, principal, body, signal, previous);
  }

  /** SPEC §14: embeddings, charged (and budgeted on) their prompt tokens. */
  async embeddings(principal: Principal, body: Json, signal: AbortSignal): Promise<GatewayResult> {
    return this.generate(EMBEDDINGS, principal, body, signal);
  }

  /**
   * Every generation call, one path (SPEC §5, §10, §14): reserve its budget, send it, meter it — buffered, or
   * streamed when it asked and its kind can — with the response it made recorded as the caller's.
   */
  private async generate(kind: CallKind, principal: Principal, body: Json, signal: AbortSignal, previous = 0): Promise<GatewayResult> {
    const entered = await this.deps.budget?.enter(principal, kind.budget, body, previous);
    if (entered && 'status' in entered) return this.refused(principal, kind.endpoint, body, entered);
    const budgeted: Budgeted = { held: entered ?? null, settled: null };
    const sent = budgeted.held?.body ?? body;
    const streamed = sent.stream === true && kind.stream ? kind.stream(sent) : null;
    /** The response a buffered answer made (a stream's reader sees its own). */
    const made: { responseId: string | null } = { responseId: null };
    const responseId = streamed ? () => streamed.reader.responseId : () => made.responseId;
    const meter = new Meter({ principal, endpoint: kind.endpoint, model: modelOf(body) }, (entry) => this.record(entry, budgeted, responseId()), this.deps.now);
    if (streamed) return this.stream(kind, meter, streamed.upstreamBody, streamed.reader, signal, budgeted, unmeasured(sent, budgeted, previous));
    return this.buffered(meter, kind.path, sent, signal, budgeted, (json, raw) => {
      made.responseId = kind.responseIdOf(json);
      // An answer without its usage is charged as a stream whose usage never came (SPEC §10).
      return kind.usageOf(json) ?? unmeasuredCharge(unmeasured(body, budgeted, previous), kind.textBytes(raw.toString('utf8')));
    });
  }

  /** Waits for the charging of streams still being read (those the app left are read on, up to drainMs, or until `ending`). */
  async close(): Promise<void> {
    await Promise.all(this.open);
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

  /** stream: true — server-sent events passed on event by event (relay.ts), read by the call kind's reader. */
  private async stream(kind: CallKind, meter: Meter, upstreamBody: Json, reader: StreamReader, signal: AbortSignal, budgeted: Budgeted, fallback: Unmeasured): Promise<GatewayResult> {
    let response: UpstreamResponse;
    try {
      // Not aborted when the app goes away: a stream the app leaves is read on for its usage (relay.ts).
      response = await this.deps.upstream.send('POST', kind.path, upstreamBody);
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
    const events = relayEvents(response, meter, { reader, textBytes: kind.textBytes, signal, ending: this.deps.ending, drainMs: this.deps.drainMs, unmeasured: fallback });
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

  /**
   * The call's usage row; a budgeted call's settlement commits with it (one transaction), and so does the owner
   * of the response it made (SPEC §14), whose context is what the call was charged.
   */
  private async record(entry: UsageEntry, budgeted: Budgeted, responseId: string | null): Promise<void> {
    this.deps.telemetry?.upstream(entry.endpoint, entry.status, entry.latencyMs / 1000);
    if (entry.principal.clientId) entry.clientName = await this.deps.clientName(entry.principal.clientId);
    const owner =
      responseId === null
        ? undefined
        : (trx: Parameters<ResponseOwners['record']>[0]) =>
            this.deps.owners.record(trx, { responseId, principal: entry.principal, contextTokens: entry.promptTokens + entry.completionTokens });
    const held = budgeted.held;
    if (!held) await this.deps.usage.record(entry, { alongside: owner });
    else budgeted.settled = (await this.deps.usage.record(entry, { alongside: owner, settle: held.settlement(entry) })) ?? null;
    // Counted once the row has committed: the metric and the usage table agree.
    this.deps.telemetry?.generated(entry.model, entry);
  }
}

/**
 * What a call whose usage never comes is charged (SPEC §10): a budgeted call its whole reservation. An
 * unbudgeted one (an API key, or a grant with no token limit) has no reservation, and charging it nothing would
 * under-report what the upstream bills, so it is charged an estimate that errs high, as the reservation does:
 * the prompt estimate of §10 plus the completion text the upstream sent so far, its UTF-8 bytes ÷ 2 rounded up
 * (tokenizers count about a token per 4 bytes of English, a token per CJK character of 3 bytes, so ÷ 2 errs
 * high for text). Reasoning a model does not show is not in it: only its usage can tell. `previous`: the tokens of
 * the response a Responses API call continues, part of its prompt.
 */
function unmeasured(body: Json, budgeted: Budgeted, previous: number): Unmeasured {
  if (budgeted.held) return budgeted.held.reserved;
  return (completionBytes) => ({ promptTokens: promptEstimate(body) + previous, completionTokens: Math.ceil(completionBytes / 2), images: 0 });
}
