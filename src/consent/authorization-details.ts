import { BUDGET_TYPE, InvalidAuthorizationDetails, authorizationDetailsOf, budgetDetailsProblem, readBudgetLimit, type BudgetLimit } from './budget-rules.js';
import { CHARACTERS_TYPE, charactersDetailsOf, readCharactersEntry, type CharacterChoice } from './character-choice.js';

/** RFC 9396 details are a short JSON array; anything longer is refused unread. */
const MAX_DETAILS_LENGTH = 4096;

/** What an app asks for with RFC 9396 `authorization_details`: each null when it asks none. */
export interface RequestedDetails {
  /** serika_budget (SPEC §10). */
  budget: BudgetLimit | null;
  /** serika_characters ids (SPEC §15): "Only these", pre-ticked. */
  characters: readonly string[] | null;
}

/**
 * RFC 9396 `authorization_details` as Serika reads them: a JSON array of at
 * most one serika_budget and one serika_characters (§2: an unknown type is
 * an error). The one parser of details at authorize, device authorization
 * and token exchange. Throws InvalidAuthorizationDetails.
 */
export function parseAuthorizationDetails(raw: string): RequestedDetails {
  if (raw.length > MAX_DETAILS_LENGTH) throw new InvalidAuthorizationDetails(`authorization_details may be at most ${MAX_DETAILS_LENGTH} characters.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidAuthorizationDetails('authorization_details must be a JSON array (RFC 9396 §2).');
  }
  if (!Array.isArray(parsed)) throw new InvalidAuthorizationDetails('authorization_details must be a JSON array (RFC 9396 §2).');
  const details: RequestedDetails = { budget: null, characters: null };
  for (const entry of parsed) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new InvalidAuthorizationDetails('Each authorization_details entry must be an object.');
    const fields = entry as Record<string, unknown>;
    if (fields.type === BUDGET_TYPE) {
      if (details.budget) throw new InvalidAuthorizationDetails(`authorization_details may hold one ${BUDGET_TYPE}.`);
      const limit = readBudgetLimit({ tokens: fields.tokens, images: fields.images, period: fields.period });
      if ('problem' in limit) throw new InvalidAuthorizationDetails(budgetDetailsProblem(limit));
      details.budget = limit;
    } else if (fields.type === CHARACTERS_TYPE) {
      if (details.characters) throw new InvalidAuthorizationDetails(`authorization_details may hold one ${CHARACTERS_TYPE}.`);
      details.characters = readCharactersEntry(fields);
    } else {
      throw new InvalidAuthorizationDetails(`Unknown authorization_details type ${JSON.stringify(fields.type ?? '(none)').slice(0, 60)}; Serika knows ${BUDGET_TYPE} and ${CHARACTERS_TYPE}.`);
    }
  }
  return details;
}

/**
 * RFC 9396 §7: what was granted, as the token response and introspection
 * carry it — the budget when there is one, the characters when they are
 * "Only these" (no entry: every character). Undefined when neither.
 */
export function grantedDetailsOf(budget: BudgetLimit | null, characters: CharacterChoice): Array<Record<string, unknown>> | undefined {
  const details = [...(budget ? authorizationDetailsOf(budget) : []), ...charactersDetailsOf(characters)];
  return details.length > 0 ? details : undefined;
}
