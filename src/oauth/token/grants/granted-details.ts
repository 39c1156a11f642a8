import { grantedDetailsOf } from '../../../consent/authorization-details.js';
import type { BudgetsService } from '../../../consent/budgets.js';
import type { CharacterChoice } from '../../../consent/character-choice.js';
import { parseScopes } from '../../../scopes.js';
import type { OAuthBudgetsTable } from '../../../storage/schema.js';
import type { IssuedTokens } from '../../store/token-pair.js';

/**
 * RFC 9396 §7: the token response carries the authorization details granted — the budget, when the grant has
 * one (SPEC §10), and the characters, when the token has the characters scope and the grant allows only some
 * (SPEC §15; no entry: every character).
 */
export async function grantedDetails(issued: IssuedTokens, budgets: BudgetsService, userId: string, clientId: string, characters: CharacterChoice, known?: OAuthBudgetsTable | null): Promise<IssuedTokens> {
  const budget = await budgets.get(userId, clientId, known);
  const details = grantedDetailsOf(budget, parseScopes(issued.scope).includes('characters') ? characters : null);
  if (details) issued.authorization_details = details;
  return issued;
}
