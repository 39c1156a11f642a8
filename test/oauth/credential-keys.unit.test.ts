import { describe, expect, it } from 'vitest';
import { credentialKey, mint } from '../../src/oauth/store/credentials.js';
import { TOKEN_PREFIX } from '../../src/security/secrets.js';
import { sha256Hex } from '../../src/security/secrets.js';

describe('OAuth credentials and their stored keys', () => {
  it('are a prefix, the issue time in hex and 256 random bits; the key is the time and the SHA-256, never the secret', () => {
    for (const kind of Object.keys(TOKEN_PREFIX) as Array<keyof typeof TOKEN_PREFIX>) {
      const { value, hash } = mint(kind, 1_800_000_000_123);
      expect(value).toMatch(new RegExp(`^${TOKEN_PREFIX[kind]}01a3185c507b[A-Za-z0-9_-]{43}$`));
      expect(hash).toBe(`01a3185c507b${sha256Hex(value)}`);
      expect(hash).not.toContain(value.slice(-43));
      expect(credentialKey(value)).toBe(hash);
    }
  });

  it('sort by issue time, so the keys of credentials made together are neighbours in the index', () => {
    const times = [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_999, 1_800_000_000_000];
    for (let round = 0; round < 50; round++) {
      const keys = times.map((t) => mint('access', t).hash);
      expect([...keys].sort()).toEqual(keys);
    }
  });

  it('are the plain SHA-256 for credentials from before the time was in them, and for anything else presented', () => {
    for (const value of ['serika_at_' + 'A'.repeat(43), 'serika_rt_x', 'serika_at_0123456789abZZ', 'garbage', '', 'serika_at_01a3185c507b' + 'A'.repeat(42)]) {
      expect(credentialKey(value)).toBe(sha256Hex(value));
    }
  });
});
