import { BUDGET_PERIODS, MAX_BUDGET, type BudgetLimit, type BudgetPeriod } from '../../consent/budget-rules.js';
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

export class InvalidSpendingLimit extends Error {}

/** The section as posted: undefined when the form had none, null for "No limit", else the limit. */
export function readSpendingLimit(body: unknown): BudgetLimit | null | undefined {
  const choice = field(body, 'budget');
  if (choice === undefined) return undefined;
  if (choice === 'none') return null;
  if (choice !== 'limit') throw new InvalidSpendingLimit('Choose "No limit" or a limit.');
  const amount = (name: string): number | null => {
    const raw = (field(body, name) ?? '').trim();
    if (raw === '') return null;
    if (!/^\d{1,13}$/.test(raw) || Number(raw) > MAX_BUDGET) throw new InvalidSpendingLimit('A spending limit is a whole number of tokens or images.');
    return Number(raw);
  };
  const tokens = amount('budget_tokens');
  const images = amount('budget_images');
  const period = field(body, 'budget_period') ?? 'month';
  if (!(BUDGET_PERIODS as readonly string[]).includes(period)) throw new InvalidSpendingLimit('Choose a period: per day, per month or in total.');
  if (tokens === null && images === null) throw new InvalidSpendingLimit('Give a number of tokens, of images, or both — or choose "No limit".');
  return { tokens, images, period: period as BudgetPeriod };
}
