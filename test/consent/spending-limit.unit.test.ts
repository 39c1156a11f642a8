import { describe, expect, it } from 'vitest';
import { parseAuthorizationDetails } from '../../src/consent/authorization-details.js';
import { MAX_BUDGET, readBudgetLimit } from '../../src/consent/budget-rules.js';
import { AppError } from '../../src/errors.js';
import { readSpendingLimit } from '../../src/web/views/spending-limit.js';

/** SPEC §10: one rule for a budget, read from RFC 9396 details and from the consent, device and dashboard forms. */
describe('a budget limit', () => {
  it.each([
    [{ tokens: 100_000, images: 20, period: 'month' }, { tokens: 100_000, images: 20, period: 'month' }],
    [{ tokens: undefined, images: 3, period: undefined }, { tokens: null, images: 3, period: 'month' }],
    [{ tokens: 0, images: null, period: 'total' }, { tokens: 0, images: null, period: 'total' }],
    [{ tokens: MAX_BUDGET, images: undefined, period: 'day' }, { tokens: MAX_BUDGET, images: null, period: 'day' }],
  ])('%j is %j', (given, limit) => {
    expect(readBudgetLimit(given)).toEqual(limit);
  });

  it.each([
    [{ tokens: 1, images: undefined, period: 'week' }, { problem: 'period' }],
    [{ tokens: 1, images: undefined, period: 5 }, { problem: 'period' }],
    [{ tokens: -1, images: undefined, period: undefined }, { problem: 'amount', field: 'tokens' }],
    [{ tokens: 1.5, images: undefined, period: undefined }, { problem: 'amount', field: 'tokens' }],
    [{ tokens: '10', images: undefined, period: undefined }, { problem: 'amount', field: 'tokens' }],
    [{ tokens: Number.NaN, images: undefined, period: undefined }, { problem: 'amount', field: 'tokens' }],
    [{ tokens: 1, images: MAX_BUDGET + 1, period: undefined }, { problem: 'amount', field: 'images' }],
    [{ tokens: null, images: undefined, period: 'day' }, { problem: 'empty' }],
    // Several faults: the period is named first.
    [{ tokens: -1, images: undefined, period: 'week' }, { problem: 'period' }],
  ])('%j is refused: %j', (given, problem) => {
    expect(readBudgetLimit(given)).toEqual(problem);
  });
});

describe('the Spending limit section as posted', () => {
  const limit = (fields: Record<string, string>) => readSpendingLimit({ budget: 'limit', ...fields });

  it('is undefined without the section, null for "No limit", else the limit the details would give', () => {
    expect(readSpendingLimit({ decision: 'allow' })).toBeUndefined();
    expect(readSpendingLimit({ budget: 'none', budget_tokens: '5' })).toBeNull();
    expect(limit({ budget_tokens: '100000', budget_images: '20', budget_period: 'month' })).toEqual(parseAuthorizationDetails('[{"type":"serika_budget","tokens":100000,"images":20,"period":"month"}]').budget);
    expect(limit({ budget_tokens: '', budget_images: ' 3 ' })).toEqual({ tokens: null, images: 3, period: 'month' });
    expect(limit({ budget_tokens: '007', budget_period: 'total' })).toEqual({ tokens: 7, images: null, period: 'total' });
  });

  it.each([
    [{ budget: 'maybe' }, 'Choose "No limit" or a limit.'],
    [{ budget: 'limit', budget_tokens: '-3', budget_period: 'day' }, 'whole number'],
    [{ budget: 'limit', budget_tokens: '1.5' }, 'whole number'],
    [{ budget: 'limit', budget_tokens: '1e3' }, 'whole number'],
    [{ budget: 'limit', budget_images: '0x10' }, 'whole number'],
    [{ budget: 'limit', budget_tokens: String(MAX_BUDGET + 1) }, 'whole number'],
    [{ budget: 'limit', budget_tokens: '00000000000001' }, 'whole number'],
    [{ budget: 'limit', budget_tokens: '5', budget_period: 'week' }, 'Choose a period'],
    [{ budget: 'limit', budget_tokens: '', budget_images: '' }, 'Give a number of tokens, of images, or both'],
  ])('%j is a 400 page: %s', (body, message) => {
    let error: unknown;
    try {
      readSpendingLimit(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((error as AppError).message).toContain(message);
    expect((error as AppError).message).toMatch(/Go back and correct it\.$/);
  });
});
