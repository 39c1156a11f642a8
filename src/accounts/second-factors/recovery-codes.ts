import { randomInt } from 'node:crypto';
import { sha256Hex } from '../../security/secrets.js';

/** SPEC §11: ten codes, shown once. */
const RECOVERY_CODE_COUNT = 10;
/** Crockford-like base32 without look-alikes (0/O, 1/I/L): 10 characters carry 50 bits from the CSPRNG. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const LENGTH = 10;

/** Ten new codes, as the user copies them: "xxxxx-xxxxx". */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

/** What is stored of a code: the hash of its letters alone (case, spaces and dashes as typed do not matter). */
export function recoveryCodeHash(code: string): string | null {
  const letters = code.toLowerCase().replace(/[\s-]/g, '');
  return letters.length === LENGTH ? sha256Hex(`recovery:${letters}`) : null;
}
