import { describe, expect, it } from 'vitest';
import { PREFIX, constantTimeEqual, equalKnownLength, randomId, randomSecret, sha256Hex } from '../../src/security/secrets.js';

describe('secrets', () => {
  it('mints 256-bit secrets with their recognisable prefix', () => {
    const a = randomSecret(PREFIX.clientSecret);
    const b = randomSecret(PREFIX.clientSecret);
    expect(a).toMatch(/^secret_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(7), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('never hands out the same random bytes twice, across many 4 KiB batches of secrets and ids', () => {
    const values = new Set<string>();
    const windows = new Set<string>();
    let expected = 0;
    for (let i = 0; i < 5000; i++) {
      const id = i % 3 === 0;
      const value = id ? randomId('x_') : randomSecret('y_');
      values.add(value);
      const raw = id ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.slice(2), 'base64url');
      expect(raw).toHaveLength(id ? 16 : 32);
      // No 8-byte window repeats: a batch re-used, or values overlapping, would repeat them.
      for (let j = 0; j < raw.length; j += 8) windows.add(raw.subarray(j, j + 8).toString('hex'));
      expected += raw.length / 8;
    }
    expect(values.size).toBe(5000);
    expect(windows.size).toBe(expected);
  });

  it('hashes with SHA-256', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('compares in constant time, and a length mismatch is false, never a throw (CM-05)', () => {
    expect(constantTimeEqual('secret_abc', 'secret_abc')).toBe(true);
    expect(constantTimeEqual('secret_abc', 'secret_abd')).toBe(false);
    expect(() => constantTimeEqual('short', 'a much longer value')).not.toThrow();
    expect(constantTimeEqual('short', 'a much longer value')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('é', 'e\u0301')).toBe(false);
  });

  it('compares digests and challenges of public length byte for byte: a mismatch or another length is false, never a throw', () => {
    const digest = sha256Hex('secret_abc');
    expect(equalKnownLength(sha256Hex('secret_abc'), digest)).toBe(true);
    expect(equalKnownLength(sha256Hex('secret_abd'), digest)).toBe(false);
    expect(equalKnownLength(digest.slice(0, 63), digest)).toBe(false);
    expect(() => equalKnownLength('short', digest)).not.toThrow();
    expect(equalKnownLength('é', 'e\u0301')).toBe(false);
    expect(equalKnownLength('ab', 'é')).toBe(false); // the same UTF-8 length, different bytes
  });
});
