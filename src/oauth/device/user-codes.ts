import { randomInt } from 'node:crypto';

/**
 * User codes (RFC 8628 §6.1, SPEC §9): 8 letters of a 20-letter alphabet
 * with no vowels (no words) and no look-alikes, shown in two groups of four (WDJB-MJHT); about
 * 34.6 bits, enough with the attempt limit of /device.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const LENGTH = 8;

export function newUserCode(): string {
  let code = '';
  // randomInt draws uniformly (rejection sampling inside): no modulo bias.
  for (let i = 0; i < LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

export function displayUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * What the user typed, as stored: case, spaces and dashes ignored (RFC 8628
 * §6.1). Null when it cannot be a code at all (wrong length or letters), so
 * nothing is looked up for it.
 */
export function normalizeUserCode(typed: string): string | null {
  if (typed.length > 64) return null;
  const code = typed.toUpperCase().replace(/[\s-]/g, '');
  if (code.length !== LENGTH) return null;
  for (const c of code) if (!USER_CODE_ALPHABET.includes(c)) return null;
  return code;
}
