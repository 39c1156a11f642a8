import { hash } from 'node:crypto';
import { equalKnownLength } from '../../security/secrets.js';

// RFC 7636 §4.1 / §4.2: 43–128 characters of the unreserved set.
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;

export function isValidPkceValue(value: string): boolean {
  return PKCE_VALUE.test(value);
}

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge. */
export function verifyS256(verifier: string, challenge: string): boolean {
  const computed = hash('sha256', verifier, 'base64url'); // the verifier is ASCII (isValidPkceValue): UTF-8 is the same bytes
  return equalKnownLength(computed, challenge);
}
