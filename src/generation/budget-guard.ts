import { promptBound, promptEstimate, responsesPromptBound } from '../consent/budget-rules.js';
import type { BudgetState, BudgetsService, Planned } from '../consent/budgets.js';
import { AppError, invalidValue } from '../errors.js';
import { openAIErrorBody, type OpenAIErrorBody } from '../http/openai-errors.js';
import { retryAfterValue } from '../http/retry-after.js';
import type { Measured } from './meter.js';
import type { Principal } from './usage.js';
import type { BatchItem } from '../storage/group-commit.js';

type Json = Record<string, unknown>;

export interface BudgetGuardDeps {
  budgets: BudgetsService;
  /** BUDGET_DEFAULT_MAX_TOKENS: the completion cap Serika sends when the app set none. */
  defaultMaxTokens: number;
  /** Where the user raises a limit (the dashboard's connected apps). */
  dashboardUrl: string;
  clientName: (clientId: string) => Promise<string | null>;
  now: () => number;
}

/** A call that fits: the body to send upstream, and how to settle once the call is over. */
export interface Held {
  body: Json;
  /** The budget with this call's hold in it. */
  state: BudgetState;
  /** What was held: the charge of a call whose usage never comes (SPEC §10). */
  reserved: Measured;
  /** Counts what the call is charged (nothing, when it failed) in place of its hold, in the commit of its usage row. */
  settlement: (charged: Measured) => BatchItem<BudgetState | null>;
  headers: (state: BudgetState | null) => Record<string, string>;
}

/** A call that does not fit: the 429 of SPEC §10, answered before any upstream call. */
export interface Refused {
  status: 429;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
}

/** What a call is, to its budget: chat completions, a Responses API call, embeddings, or images. */
export type BudgetedKind = 'chat' | 'responses' | 'embeddings' | 'images';

/** OpenAI's own bounds on `n` (chat choices, images): anything else cannot be bounded, and is refused. */
const MOST_CHOICES = { chat: 128, images: 10 } as const;

/** `n` as the app sent it (absent or null: 1), or the 400 naming it; calls without choices are 1. */
function countOf(n: unknown, kind: BudgetedKind): number | AppError {
  if (kind !== 'chat' && kind !== 'images') return 1;
  if (n === undefined || n === null) return 1;
  const most = MOST_CHOICES[kind];
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= most) return n;
  return invalidValue('n', `Invalid 'n': expected a whole number from 1 to ${most}.`);
}

/**
 * The completion caps of each kind: chat's two (SPEC §10), the Responses API's max_output_tokens (SPEC §14);
 * embeddings have no completion. When the app sent none, Serika sends max_tokens (chat) or max_output_tokens.
 */
const CAP_FIELDS = { chat: ['max_completion_tokens', 'max_tokens'], responses: ['max_output_tokens'], embeddings: [], images: [] } as const satisfies Record<BudgetedKind, readonly string[]>;

/** The completion caps the app sent (none: Serika sets the first), or the 400 naming one that is not a whole number ≥ 1. */
function capsOf(body: Json, fields: readonly string[]): Array<[string, number]> | AppError {
  const caps: Array<[string, number]> = [];
  for (const field of fields) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) return invalidValue(field, `Invalid '${field}': expected a whole number of at least 1.`);
    caps.push([field, value]);
  }
  return caps;
}

/** The prompt estimate of a token-metered call (or the 400 of what nothing bounds). */
function promptOf(kind: BudgetedKind, body: Json, previous: number): number | AppError {
  if (kind === 'responses') return responsesPromptBound(body, previous);
  if (kind === 'embeddings') return promptEstimate(body);
  return promptBound(body);
}

const PERIOD_WORD = { day: 'daily', month: 'monthly', total: 'total' } as const;
const PERIOD_LEFT = { day: ' today', month: ' this month', total: '' } as const;

function remainingHeaders(state: BudgetState | null): Record<string, string> {
  if (!state) return {};
  const headers: Record<string, string> = {};
  if (state.tokensRemaining !== null) headers['serika-budget-remaining-tokens'] = String(state.tokensRemaining);
  if (state.imagesRemaining !== null) headers['serika-budget-remaining-images'] = String(state.imagesRemaining);
  return headers;
}

/**
 * The budget side of a generation call (SPEC §10), for OAuth-token calls
 * only (API keys are never budgeted): reserve the largest possible cost —
 * the prompt estimate of the whole body (with the most each image part can
 * cost) plus the completion cap `n` times, the cap lowered to what remains
 * (and set when the app sent none), or `n` images — then settle to what the
 * call is charged, whatever its fate. What cannot be bounded (`n` or a cap
 * that is not a whole number in range, a file or unknown content part) is
 * refused with a 400 naming it, when the budget limits the call.
 */
export class BudgetGuard {
  constructor(private readonly deps: BudgetGuardDeps) {}

  /**
   * Holds the call's largest cost, or refuses it; null when nothing limits it. `previous`: the tokens of the
   * response a Responses API call continues (previous_response_id), part of its prompt.
   */
  async enter(principal: Principal, kind: BudgetedKind, body: Json, previous = 0): Promise<Held | Refused | null> {
    if (principal.clientId === null) return null;
    const { userId, clientId } = principal;
    let sent = body;
    let reserved: Measured = { promptTokens: 0, completionTokens: 0, images: 0 };
    /** What the call would need at most, unlowered (for the 429). */
    let needed = 0;
    /** Set when the budget limits the call and the body cannot be bounded: nothing is held, the call is refused. */
    // Widened on purpose: plan (a closure) sets it, which TypeScript's narrowing cannot see.
    let unbounded = null as AppError | null;
    // What cannot be bounded is refused only when a limit applies (plan), but it is the same whatever the budget.
    const n = countOf(body.n, kind);
    const capFields: readonly string[] = CAP_FIELDS[kind];
    const caps = capsOf(body, capFields);
    /** The prompt estimate (or the 400 of a part nothing bounds), worked out once however often the plan runs. */
    let bound: number | AppError | undefined;
    // Planned on the budget row inside the reserving transaction: one read, one conditional UPDATE.
    const plan = (budget: BudgetState): Planned => {
      unbounded = null;
      if (kind !== 'images') {
        if (budget.tokensRemaining === null) return null;
        if (n instanceof AppError || caps instanceof AppError) {
          unbounded = n instanceof AppError ? n : (caps as AppError);
          return null;
        }
        // Content parts are walked only once a token limit applies: they can cost far more than their bytes.
        const estimate = (bound ??= promptOf(kind, body, previous));
        if (estimate instanceof AppError) {
          unbounded = estimate;
          return null;
        }
        if (capFields.length === 0) {
          // Embeddings: the input alone, settled to the usage's prompt tokens.
          needed = estimate;
          reserved = { promptTokens: estimate, completionTokens: 0, images: 0 };
          return estimate > budget.tokensRemaining ? 'refuse' : { tokens: estimate, images: 0 };
        }
        const wanted = caps.length ? Math.max(...caps.map(([, cap]) => cap)) : this.deps.defaultMaxTokens;
        needed = estimate + wanted * n;
        // n choices each up to the cap: the cap is what remains shared among them.
        const cap = Math.min(wanted, Math.floor((budget.tokensRemaining - estimate) / n));
        if (cap < 1) return 'refuse';
        sent = { ...body };
        if (caps.length === 0) sent[kind === 'responses' ? 'max_output_tokens' : 'max_tokens'] = cap;
        // Every cap the app sent is lowered: an upstream may honour either.
        for (const [field, asked] of caps) sent[field] = Math.min(asked, cap);
        reserved = { promptTokens: estimate, completionTokens: cap * n, images: 0 };
        return { tokens: estimate + cap * n, images: 0, shaped: cap < wanted };
      }
      if (budget.imagesRemaining === null) return null;
      if (n instanceof AppError) {
        unbounded = n;
        return null;
      }
      needed = n;
      reserved = { promptTokens: 0, completionTokens: 0, images: n };
      return budget.imagesRemaining < n ? 'refuse' : { tokens: 0, images: n };
    };
    // A sub-agent token's call also counts against its own cap and its ancestors' (SPEC §15).
    const lineage = principal.agents ?? null;
    const reservation = await this.deps.budgets.reserve(userId, clientId, plan, lineage);
    if (unbounded) throw unbounded;
    if (!reservation) return null;
    const what = kind === 'images' ? 'images' : 'tokens';
    if (reservation.kind === 'refused') return this.refuse(reservation.state, clientId, what, needed);
    return {
      body: sent,
      state: reservation.state,
      reserved,
      headers: remainingHeaders,
      settlement: (charged) =>
        this.deps.budgets.settlement(reservation.id, userId, clientId, { tokens: what === 'tokens' ? charged.promptTokens + charged.completionTokens : 0, images: charged.images }, lineage),
    };
  }

  /** SPEC §10's 429: what the limit is, what remains and what the call needed, when it resets, where to raise it. */
  private async refuse(state: BudgetState, clientId: string, what: 'tokens' | 'images', needed: number): Promise<Refused> {
    const app = (await this.deps.clientName(clientId)) ?? 'This app';
    const limit = (what === 'tokens' ? state.tokens : state.images) ?? 0;
    const remaining = (what === 'tokens' ? state.tokensRemaining : state.imagesRemaining) ?? 0;
    const count = (n: number) => n.toLocaleString('en-US');
    const unit = limit === 1 ? what.slice(0, -1) : what;
    const need = what === 'tokens' ? `needs up to ${count(needed)}` : `needs ${count(needed)}`;
    const resets = state.resetsAt === null ? '' : ` It resets on ${new Date(state.resetsAt).toISOString().slice(0, 10)} (UTC).`;
    const message =
      `${app} has used the ${PERIOD_WORD[state.period]} limit of ${count(limit)} ${unit} that you set for it.` +
      ` It has ${count(remaining)} of its ${count(limit)} ${unit} left${PERIOD_LEFT[state.period]}; this call ${need}.${resets}` +
      ` You can raise it at ${this.deps.dashboardUrl}.`;
    const error = new AppError('app_budget_exceeded', message);
    const headers: Record<string, string> = { 'x-should-retry': 'false', ...remainingHeaders(state) };
    if (state.resetsAt !== null) headers['retry-after'] = retryAfterValue((state.resetsAt - this.deps.now()) / 1000);
    return { status: 429, body: openAIErrorBody(error), headers };
  }
}
