import { promptEstimate } from '../consent/budget-rules.js';
import type { BudgetState, BudgetsService, Planned } from '../consent/budgets.js';
import { AppError } from '../errors.js';
import { openAIErrorBody, type OpenAIErrorBody } from '../http/openai-errors.js';
import type { Measured } from './meter.js';
import type { Principal } from './usage.js';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

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
  settle: (status: number, measured: Measured, alongside?: (trx: Kysely<Database>) => Promise<void>) => Promise<BudgetState | null>;
  headers: (state: BudgetState | null) => Record<string, string>;
}

/** A call that does not fit: the 429 of SPEC §10, answered before any upstream call. */
export interface Refused {
  status: 429;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
}

const PERIOD_WORD = { day: 'daily', month: 'monthly', total: 'total' } as const;

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
 * the prompt estimate plus the completion cap, lowered to what remains (and
 * set when the app sent none), or `n` images — then settle to the actual
 * usage, whatever the call's fate.
 */
export class BudgetGuard {
  constructor(private readonly deps: BudgetGuardDeps) {}

  async enter(principal: Principal, kind: 'chat' | 'images', body: Json): Promise<Held | Refused | null> {
    if (principal.clientId === null) return null;
    const { userId, clientId } = principal;
    let sent = body;
    // Planned on the budget row inside the reserving transaction: one read, one conditional UPDATE.
    const plan = (budget: BudgetState): Planned => {
      if (kind === 'chat') {
        if (budget.tokensRemaining === null) return null;
        const estimate = promptEstimate(body.messages);
        const room = budget.tokensRemaining - estimate;
        if (room < 1) return 'refuse';
        const field = typeof body.max_completion_tokens === 'number' ? 'max_completion_tokens' : 'max_tokens';
        const asked = typeof body[field] === 'number' && (body[field] as number) > 0 ? (body[field] as number) : null;
        const wanted = asked ?? this.deps.defaultMaxTokens;
        const cap = Math.min(wanted, room);
        sent = { ...body, [field]: cap };
        return { tokens: estimate + cap, images: 0, shaped: cap < wanted };
      }
      if (budget.imagesRemaining === null) return null;
      const n = typeof body.n === 'number' && Number.isSafeInteger(body.n) && body.n > 0 ? body.n : 1;
      return budget.imagesRemaining < n ? 'refuse' : { tokens: 0, images: n };
    };
    const reservation = await this.deps.budgets.reserve(userId, clientId, plan);
    if (!reservation) return null;
    if (reservation.kind === 'refused') return this.refuse(reservation.state, clientId, kind === 'chat' ? 'tokens' : 'images');
    return {
      body: sent,
      state: reservation.state,
      headers: remainingHeaders,
      settle: (status, measured, alongside) =>
        this.deps.budgets.settle(
          reservation.id,
          userId,
          clientId,
          status === 200 ? { tokens: kind === 'chat' ? measured.promptTokens + measured.completionTokens : 0, images: measured.images } : { tokens: 0, images: 0 },
          alongside,
        ),
    };
  }

  private async refuse(state: BudgetState, clientId: string, what: 'tokens' | 'images'): Promise<Refused> {
    const app = (await this.deps.clientName(clientId)) ?? 'This app';
    const limit = (what === 'tokens' ? state.tokens : state.images) ?? 0;
    const resets = state.resetsAt === null ? '' : ` It resets on ${new Date(state.resetsAt).toISOString().slice(0, 10)} (UTC).`;
    const unit = limit === 1 ? what.slice(0, -1) : what;
    const message = `${app} has used the ${PERIOD_WORD[state.period]} limit of ${limit.toLocaleString('en-US')} ${unit} that you set for it.${resets} You can raise it at ${this.deps.dashboardUrl}.`;
    const error = new AppError('app_budget_exceeded', message);
    const headers: Record<string, string> = { 'x-should-retry': 'false', ...remainingHeaders(state) };
    if (state.resetsAt !== null) headers['retry-after'] = String(Math.max(1, Math.ceil((state.resetsAt - this.deps.now()) / 1000)));
    return { status: 429, body: openAIErrorBody(error), headers };
  }
}
