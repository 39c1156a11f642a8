import { BUDGET_PERIODS, MAX_BUDGET, readBudgetLimit, type BudgetLimit, type BudgetLimitProblem, type BudgetPeriod } from '../../consent/budget-rules.js';
import { AppError } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { html, type Html } from '../html.js';

const PERIOD_LABEL: Record<BudgetPeriod, string> = { day: 'per day', month: 'per month', total: 'in total' };

/** "100,000 tokens and 20 images per month". */
export function describeLimit(limit: BudgetLimit): string {
  const parts = [limit.tokens !== null ? `${limit.tokens.toLocaleString('en-US')} tokens` : null, limit.images !== null ? `${limit.images.toLocaleString('en-US')} images` : null].filter(Boolean);
  return `${parts.join(' and ')} ${PERIOD_LABEL[limit.period]}`;
}

/** Whether `asked` lets the app spend more than `current` in some respect (a step-up, SPEC §10). */
function raises(current: BudgetLimit, asked: BudgetLimit): boolean {
  const more = (a: number | null, b: number | null) => (b === null ? a !== null : a !== null && b > a);
  return asked.period !== current.period || more(current.tokens, asked.tokens) || more(current.images, asked.images);
}

/**
 * The "Spending limit" section of the consent and device pages (SPEC §10):
 * "No limit" unless the app asks for one or the grant has one, then the
 * limit pre-filled; the user may change either.
 */
export function spendingLimitFieldset(view: { appName: string; requested: BudgetLimit | null; current: BudgetLimit | null }): Html {
  const shown = view.requested ?? view.current;
  const stepUp = view.requested && view.current && raises(view.current, view.requested);
  return html`<fieldset class="spending-limit"><legend>Spending limit</legend>
  ${stepUp ? html`<p class="notice warning"><strong>${view.appName}</strong> asks to raise its limit from ${describeLimit(view.current!)} to ${describeLimit(view.requested!)}.</p>` : ''}
  ${!stepUp && view.requested ? html`<p class="muted">${view.appName} asks for a limit of ${describeLimit(view.requested)}. You may change it.</p>` : ''}
  <div class="check"><input type="radio" id="budget-none" name="budget" value="none"${shown ? '' : html` checked`}><label for="budget-none">No limit</label></div>
  <div class="check"><input type="radio" id="budget-limit" name="budget" value="limit"${shown ? html` checked` : ''}><label for="budget-limit">Limit what this app may spend for you</label></div>
  <div class="budget-fields">
    <label for="budget_tokens">Tokens</label>
    <input type="number" id="budget_tokens" name="budget_tokens" min="0" max="${MAX_BUDGET}" step="1" inputmode="numeric" value="${shown?.tokens ?? ''}" placeholder="no token limit">
    <label for="budget_images">Images</label>
    <input type="number" id="budget_images" name="budget_images" min="0" max="${MAX_BUDGET}" step="1" inputmode="numeric" value="${shown?.images ?? ''}" placeholder="no image limit">
    <label for="budget_period">Period</label>
    <select id="budget_period" name="budget_period">
      ${BUDGET_PERIODS.map((p) => html`<option value="${p}"${(shown?.period ?? 'month') === p ? html` selected` : ''}>${PERIOD_LABEL[p]}</option>`)}
    </select>
  </div>
  <p class="hint">You can change or remove the limit at any time from your dashboard.</p>
</fieldset>`;
}

const FORM_PROBLEMS: Record<BudgetLimitProblem['problem'], string> = {
  period: 'Choose a period: per day, per month or in total.',
  amount: 'A spending limit is a whole number of tokens or images.',
  empty: 'Give a number of tokens, of images, or both — or choose "No limit".',
};

/** A 400 page saying what to correct (the pages' error handler renders it). */
const refused = (message: string) => new AppError('invalid_request', `${message} Go back and correct it.`);

/** An amount as typed: empty is none; anything but digits (a sign, a point, an exponent) or more digits than MAX_BUDGET has is NaN, which readBudgetLimit refuses. */
function typedAmount(raw: string | undefined): number | null {
  const typed = (raw ?? '').trim();
  if (typed === '') return null;
  return /^\d{1,13}$/.test(typed) ? Number(typed) : NaN;
}

/**
 * The section as posted, the one reading of it for the consent, device and dashboard forms: undefined
 * when the form had none, null for "No limit", else the limit, judged by consent's readBudgetLimit.
 * Throws the page's 400 for anything else.
 */
export function readSpendingLimit(body: unknown): BudgetLimit | null | undefined {
  const choice = field(body, 'budget');
  if (choice === undefined) return undefined;
  if (choice === 'none') return null;
  if (choice !== 'limit') throw refused('Choose "No limit" or a limit.');
  const limit = readBudgetLimit({ tokens: typedAmount(field(body, 'budget_tokens')), images: typedAmount(field(body, 'budget_images')), period: field(body, 'budget_period') });
  if ('problem' in limit) throw refused(FORM_PROBLEMS[limit.problem]);
  return limit;
}
