import { randomInt } from 'node:crypto';
import { sha256Hex } from '../../security/secrets.js';

/** SPEC §11: ten codes, shown once. */
const RECOVERY_CODE_COUNT = 10;
/** Crockford-like base32 without look-alikes (0/O, 1/I/L). */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
/**
 * 16 characters carry 79 bits from the CSPRNG: enough that the stored SHA-256 cannot be searched
 * back to a code even after a database leak (10 characters, ~50 bits, could be; security review of
 * issue 34). Codes of the earlier 10-character form are still accepted until used.
 */
const LENGTH = 16;
const LEGACY_LENGTH = 10;

/** Ten new codes, as the user copies them: "xxxx-xxxx-xxxx-xxxx". */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    return chars.match(/.{4}/g)!.join('-');
  });
}

/**
 * What is stored of a code: the hash of its letters alone (case, spaces and dashes as typed do not
 * matter), salted with the user id so one precomputation cannot serve every account.
 */
export function recoveryCodeHash(userId: string, code: string): string | null {
  const letters = code.toLowerCase().replace(/[\s-]/g, '');
  if (letters.length === LENGTH) return sha256Hex(`recovery:v2:${userId}:${letters}`);
  return letters.length === LEGACY_LENGTH ? sha256Hex(`recovery:${letters}`) : null;
}
