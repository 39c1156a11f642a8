import { AppError, invalidValue } from '../errors.js';
import type { BudgetPeriod } from '../storage/schema.js';

export type { BudgetPeriod };

/** What the user allows an app to spend (SPEC §10): tokens and/or images per period. */
export interface BudgetLimit {
  tokens: number | null;
  images: number | null;
  period: BudgetPeriod;
}

export const BUDGET_TYPE = 'serika_budget';
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['day', 'month', 'total'];
/** Far beyond any real limit; keeps every sum inside a 64-bit integer and a JS number. */
export const MAX_BUDGET = 1_000_000_000_000;

export class InvalidAuthorizationDetails extends Error {}

/** The calendar period (UTC) a moment falls in: its start (ms); 0 for total. */
export function periodStart(period: BudgetPeriod, now: number): number {
  const d = new Date(now);
  if (period === 'day') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (period === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return 0;
}

/** When the period that began at `start` ends; null for total, which never resets. */
export function periodEnd(period: BudgetPeriod, start: number): number | null {
  if (period === 'day') return start + 86_400_000;
  if (period === 'month') {
    const d = new Date(start);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return null;
}

/** Why a budget as given is not one SPEC §10 allows. */
export type BudgetLimitProblem = { problem: 'period' } | { problem: 'amount'; field: 'tokens' | 'images' } | { problem: 'empty' };

/**
 * SPEC §10's budget, the one rule wherever one is asked for or set (RFC 9396 details at authorize
 * and device authorization; the consent, device and dashboard forms): tokens and/or images, each a
 * whole number from 0 to MAX_BUDGET (undefined or null: no limit on it), per day, month (undefined
 * or null: month) or total. The problems are checked in that order: period, tokens, images, at
 * least one of the two.
 */
export function readBudgetLimit(given: { tokens: unknown; images: unknown; period: unknown }): BudgetLimit | BudgetLimitProblem {
  const period = given.period ?? 'month';
  if (typeof period !== 'string' || !(BUDGET_PERIODS as readonly string[]).includes(period)) return { problem: 'period' };
  const limit: BudgetLimit = { tokens: null, images: null, period: period as BudgetPeriod };
  for (const field of ['tokens', 'images'] as const) {
    const value = given[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_BUDGET) return { problem: 'amount', field };
    limit[field] = value;
  }
  return limit.tokens === null && limit.images === null ? { problem: 'empty' } : limit;
}

/** Why a serika_budget entry of RFC 9396 details is refused (consent/authorization-details.ts reads the array). */
export function budgetDetailsProblem(limit: BudgetLimitProblem): string {
  if (limit.problem === 'period') return `${BUDGET_TYPE}.period must be one of ${BUDGET_PERIODS.join(', ')}.`;
  if (limit.problem === 'amount') return `${BUDGET_TYPE}.${limit.field} must be a whole number from 0 to ${MAX_BUDGET}.`;
  return `${BUDGET_TYPE} needs tokens, images or both.`;
}

/** The budget as RFC 9396 details, as the token response and introspection carry it. */
export function authorizationDetailsOf(limit: BudgetLimit): Array<Record<string, unknown>> {
  return [{ type: BUDGET_TYPE, ...(limit.tokens !== null ? { tokens: limit.tokens } : {}), ...(limit.images !== null ? { images: limit.images } : {}), period: limit.period }];
}

/**
 * SPEC §10: a prompt estimate that errs high — UTF-8 bytes ÷ 2, rounded up — of the whole request body, not the
 * messages alone: tools, functions and response_format reach the model's prompt too, and so may any field an
 * upstream knows and Serika does not (the few bytes of the model name and the knobs only err high).
 */
export function promptEstimate(body: Record<string, unknown>): number {
  return Math.ceil(Buffer.byteLength(JSON.stringify(body), 'utf8') / 2);
}

/**
 * The most one image part can cost, whatever its bytes (a URL is a few dozen). OpenAI's vision pricing: an image
 * is scaled to fit 2048×2048, then its short side to 768, so it covers at most 2 × 4 = 8 tiles of 512 px; gpt-4o
 * charges 85 + 170 a tile, gpt-4o-mini 2,833 + 5,667 a tile, so up to 2,833 + 8 × 5,667 = 48,169 tokens — the
 * largest published per-image cost among OpenAI's vision models as of 2026. An upstream that charges more is
 * §10's "upstream that ignores the cap".
 */
export const IMAGE_PART_MOST_TOKENS = 48_169;
/**
 * `detail: "low"` is the base alone on tiled models (gpt-4o-mini: 2,833), but the patch-metered models
 * (gpt-4.1-nano, gpt-5-nano: 32 px patches capped at 1,536, × 2.46) are not documented to lower their count for
 * it, so a low-detail image may still cost 1,536 × 2.46 = 3,779 tokens.
 */
export const LOW_DETAIL_IMAGE_PART_MOST_TOKENS = 3_779;

/** Content parts that are text the byte estimate already bounds. */
const TEXT_PARTS = new Set(['text', 'refusal']);

/** The most one content part can add to the byte estimate, or the 400 naming it when nothing bounds it. */
function partMost(part: unknown, param: string): number | AppError {
  const type = typeof part === 'object' && part !== null ? (part as Record<string, unknown>).type : undefined;
  if (typeof type === 'string' && TEXT_PARTS.has(type)) return 0;
  if (type === 'image_url') {
    const image = (part as Record<string, unknown>).image_url;
    const detail = typeof image === 'object' && image !== null ? (image as Record<string, unknown>).detail : undefined;
    return detail === 'low' ? LOW_DETAIL_IMAGE_PART_MOST_TOKENS : IMAGE_PART_MOST_TOKENS;
  }
  // Audio is base64 in `data`, so its bytes are in the estimate: 4/3 of the audio's bytes, ÷ 2, is 2/3 of a token
  // per audio byte. Audio costs about 10 tokens a second (OpenAI: a token per 100 ms; Gemini 32 a second), which
  // the estimate covers for any audio of at least 48 bytes (384 bits) a second — mp3's lowest bitrate is 8 kbit/s,
  // 8 kHz 16-bit wav 128 kbit/s, i.e. hundreds to thousands of estimated tokens a second.
  if (type === 'input_audio') return 0;
  if (type === 'file') {
    return invalidValue(param, `Invalid '${param}': a call with a spending limit cannot include files; what a file costs cannot be known before the call.`);
  }
  const named = typeof type === 'string' ? `'${type.slice(0, 40)}' content` : 'a content part without a type';
  return invalidValue(param, `Invalid '${param}': a call with a spending limit cannot include ${named}; what it costs cannot be known before the call.`);
}

/**
 * The prompt estimate of a call a token limit applies to (SPEC §10): the byte estimate of the whole body, plus,
 * for each part of a `messages[i].content` array that is not text, the most it can cost beyond its bytes — or
 * the 400 naming a part whose cost nothing bounds (a file, an unknown part). Calls with no token limit skip it:
 * the upstream judges their content.
 */
export function promptBound(body: Record<string, unknown>): number | AppError {
  let most = promptEstimate(body);
  const messages = body.messages;
  if (!Array.isArray(messages)) return most;
  for (const [i, message] of messages.entries()) {
    const content = typeof message === 'object' && message !== null ? (message as Record<string, unknown>).content : undefined;
    if (!Array.isArray(content)) continue;
    for (const [j, part] of content.entries()) {
      const extra = partMost(part, `messages[${i}].content[${j}]`);
      if (extra instanceof AppError) return extra;
      most += extra;
    }
  }
  return most;
}

/** Responses API content parts (SPEC §14): what each may add beyond its bytes. */
function responsesPartMost(part: unknown, param: string): number | AppError {
  const fields = typeof part === 'object' && part !== null ? (part as Record<string, unknown>) : {};
  const type = fields.type;
  if (type === 'input_text' || type === 'output_text' || type === 'refusal' || type === 'input_audio') return 0;
  if (type === 'input_image') return fields.detail === 'low' ? LOW_DETAIL_IMAGE_PART_MOST_TOKENS : IMAGE_PART_MOST_TOKENS;
  if (type === 'input_file') {
    return invalidValue(param, `Invalid '${param}': a call with a spending limit cannot include files; what a file costs cannot be known before the call.`);
  }
  const named = typeof type === 'string' ? `'${type.slice(0, 40)}' content` : 'a content part without a type';
  return invalidValue(param, `Invalid '${param}': a call with a spending limit cannot include ${named}; what it costs cannot be known before the call.`);
}

/** Tools whose use stays in the answer's bytes: a function the app runs itself. Hosted tools (web search, file search, code) add input nothing bounds. */
const BOUNDED_TOOLS = new Set(['function', 'custom']);

/**
 * SPEC §14 with §10: the prompt estimate of a Responses API call a token limit applies to — the byte estimate of
 * the whole body, the most each image part can cost, and `previous` (the tokens of the response it continues,
 * which the upstream puts before its input) — or the 400 naming what nothing bounds: a file, an unknown part,
 * a hosted tool (its results reach the prompt), a stored prompt.
 */
export function responsesPromptBound(body: Record<string, unknown>, previous: number): number | AppError {
  let most = promptEstimate(body) + previous;
  // A stored prompt (`prompt: {id}`) is expanded by the upstream: its text is not in the body's bytes.
  if (body.prompt !== undefined && body.prompt !== null) {
    return invalidValue('prompt', "Invalid 'prompt': a call with a spending limit cannot use a stored prompt; what it adds cannot be known before the call.");
  }
  if (Array.isArray(body.tools)) {
    for (const [i, tool] of body.tools.entries()) {
      const type = typeof tool === 'object' && tool !== null ? (tool as Record<string, unknown>).type : undefined;
      if (typeof type !== 'string' || !BOUNDED_TOOLS.has(type)) {
        return invalidValue(`tools[${i}]`, `Invalid 'tools[${i}]': a call with a spending limit cannot use hosted tools; what their results cost cannot be known before the call.`);
      }
    }
  }
  const input = body.input;
  if (!Array.isArray(input)) return most;
  for (const [i, item] of input.entries()) {
    const content = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).content : undefined;
    if (!Array.isArray(content)) continue;
    for (const [j, part] of content.entries()) {
      const extra = responsesPartMost(part, `input[${i}].content[${j}]`);
      if (extra instanceof AppError) return extra;
      most += extra;
    }
  }
  return most;
}
