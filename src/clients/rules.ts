/** Rules a client's fields follow wherever they come from: the API, the dashboard, registration, a metadata document. */
export const SIGNING_ALG_NAMES = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlgName = (typeof SIGNING_ALG_NAMES)[number];

/**
 * A name is shown to users on the consent page: it needs a visible
 * character, and may hold no control, format (zero-width, bidi override) or
 * line-separator character that could disguise what it says. Returns the
 * problem, or null.
 */
export function nameProblem(name: string): string | null {
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/u.test(name)) {
    return 'must not contain control, invisible-format or bidirectional-override characters.';
  }
  if (!/[\p{L}\p{N}\p{P}\p{S}]/u.test(name)) return 'must contain a visible character.';
  return null;
}
