import { describe, expect, it } from 'vitest';
import { KeyEncryption, KeyEncryptionError, isSealed } from '../../src/security/key-encryption.js';

const A = 'a-secret-of-at-least-thirty-two-characters';
const B = 'b-secret-of-at-least-thirty-two-characters';
const ROW = { aad: 'signing_keys.private_jwk:kid-1', label: 'the private signing key kid-1' };
const OTHER_ROW = { aad: 'signing_keys.private_jwk:kid-2', label: 'the private signing key kid-2' };
const JWK = '{"kty":"EC","crv":"P-256","x":"x","y":"y","d":"the-private-part"}';

describe('KEY_ENCRYPTION_SECRETS sealing (AES-256-GCM, HKDF-SHA256 keys)', () => {
  it('seals under the first secret in a self-describing format, a fresh IV each time, and opens it again', () => {
    const keys = new KeyEncryption([A]);
    const sealed = keys.seal(JWK, ROW);
    expect(sealed).toMatch(/^serika-sealed:1:[\w-]{12}:[\w-]{16}:[\w-]+:[\w-]{22}$/);
    expect(sealed.split(':')[2]).toBe(keys.sealingFingerprint);
    expect(sealed).not.toContain('the-private-part');
    expect(Buffer.from(sealed.split(':')[4]!, 'base64url').toString('latin1')).not.toContain('kty');
    expect(keys.seal(JWK, ROW)).not.toBe(sealed);
    expect(keys.open(sealed, ROW)).toBe(JWK);
    expect(keys.isCurrent(sealed)).toBe(true);
  });

  it('stores plain when no secret is set, and reads values stored plain before a secret was set', () => {
    expect(new KeyEncryption([]).seal(JWK, ROW)).toBe(JWK);
    expect(new KeyEncryption([]).open(JWK, ROW)).toBe(JWK);
    expect(new KeyEncryption([A]).open(JWK, ROW)).toBe(JWK);
    expect(new KeyEncryption([A]).isCurrent(JWK)).toBe(false);
    expect(new KeyEncryption([]).isCurrent(JWK)).toBe(true);
  });

  it('opens with any listed secret (rotation: the new one first), and seals under the first', () => {
    const underA = new KeyEncryption([A]).seal(JWK, ROW);
    const rotated = new KeyEncryption([B, A]);
    expect(rotated.open(underA, ROW)).toBe(JWK);
    expect(rotated.isCurrent(underA)).toBe(false);
    const underB = rotated.seal(JWK, ROW);
    expect(rotated.isCurrent(underB)).toBe(true);
    expect(new KeyEncryption([B]).open(underB, ROW)).toBe(JWK);
  });

  it('names KEY_ENCRYPTION_SECRETS when no configured secret sealed the value', () => {
    const underA = new KeyEncryption([A]).seal(JWK, ROW);
    expect(() => new KeyEncryption([B]).open(underA, ROW)).toThrow(/^the private signing key kid-1 is sealed under a secret that is not in KEY_ENCRYPTION_SECRETS \(fingerprint [\w-]{12}\)/);
    expect(() => new KeyEncryption([]).open(underA, ROW)).toThrow(/KEY_ENCRYPTION_SECRETS is not set/);
    expect(() => new KeyEncryption([]).open(underA, ROW)).toThrow(KeyEncryptionError);
  });

  it('binds a value to its row: copied into another row, or altered, it does not open', () => {
    const keys = new KeyEncryption([A]);
    const sealed = keys.seal(JWK, ROW);
    expect(() => keys.open(sealed, OTHER_ROW)).toThrow(/kid-2 does not open .*altered, or copied from another row/);
    const parts = sealed.split(':');
    const ciphertext = Buffer.from(parts[4]!, 'base64url');
    ciphertext[0]! ^= 1;
    parts[4] = ciphertext.toString('base64url');
    expect(() => keys.open(parts.join(':'), ROW)).toThrow(KeyEncryptionError);
    expect(() => keys.open(sealed.slice(0, -4), ROW)).toThrow(KeyEncryptionError);
    expect(() => keys.open(sealed.replace('serika-sealed:1:', 'serika-sealed:9:'), ROW)).toThrow(/format this version of Serika does not know/);
  });

  it('tells sealed values from plain ones (a JWK, a base64url key)', () => {
    expect(isSealed(new KeyEncryption([A]).seal('x', ROW))).toBe(true);
    expect(isSealed(JWK)).toBe(false);
    expect(isSealed('Zm9vYmFy-_Zm9vYmFy')).toBe(false);
  });
});
