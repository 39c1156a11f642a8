import { authorizationDetailsOf } from '../../../consent/budget-rules.js';
import type { BudgetsService } from '../../../consent/budgets.js';
import type { OAuthBudgetsTable } from '../../../storage/schema.js';
import type { IssuedTokens } from '../../store/token-pair.js';

/** RFC 9396 §7: the token response carries the authorization details granted — the budget, when the grant has one. */
export async function grantedDetails(issued: IssuedTokens, budgets: BudgetsService, userId: string, clientId: string, known?: OAuthBudgetsTable | null): Promise<IssuedTokens> {
  const budget = await budgets.get(userId, clientId, known);
  if (budget) issued.authorization_details = authorizationDetailsOf(budget);
  return issued;
}
