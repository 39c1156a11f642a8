import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { atHash } from '../../src/oidc/id-token.js';

// OIDC Core §3.1.3.6: the left half of the alg's hash of the access token, base64url.
const expected = (algorithm: string, token: string) => {
  const digest = createHash(algorithm).update(token, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
};

describe('at_hash', () => {
  const token = 'serika_at_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
  it('is the left half of SHA-256 for RS256 and ES256', () => {
    expect(atHash(token, 'RS256')).toBe(expected('sha256', token));
    expect(atHash(token, 'ES256')).toBe(expected('sha256', token));
    expect(atHash(token, 'RS256')).toHaveLength(22);
  });
  it('is the left half of SHA-512 for EdDSA (Ed25519)', () => {
    expect(atHash(token, 'EdDSA')).toBe(expected('sha512', token));
    expect(atHash(token, 'EdDSA')).toHaveLength(43);
  });
});
