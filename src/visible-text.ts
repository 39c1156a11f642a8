/**
 * Characters that render as blank space yet count as letters or symbols
 * (so `\p{L}` and `\p{S}` take them for visible text): the Hangul fillers
 * U+115F, U+1160, U+3164 and U+FFA0, and the braille blank U+2800.
 */
const BLANK_LOOKALIKES = /[\u115F\u1160\u3164\uFFA0\u2800]/u;

/**
 * The one rule for a name people read (a client's, a character's, an API
 * key's, a registration's client_name): it needs a visible character, and
 * may hold no control, format (zero-width, bidi override), line-separator or
 * blank-lookalike character that could disguise what it says. Returns the
 * problem, or null.
 */
export function nameProblem(name: string): string | null {
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/u.test(name) || BLANK_LOOKALIKES.test(name)) {
    return 'must not contain control, invisible-format, blank-lookalike or bidirectional-override characters.';
  }
  if (!/[\p{L}\p{N}\p{P}\p{S}]/u.test(name)) return 'must contain a visible character.';
  return null;
}
