import { randomSecret, sha256Hex } from '../security/secrets.js';

/** Distinct prefixes for each kind of OAuth credential (SPEC §4). */
export const TOKEN_PREFIX = {
  access: 'serika_at_',
  refresh: 'serika_rt_',
  code: 'serika_ac_',
  device: 'serika_dc_',
} as const;

export type CredentialKind = keyof typeof TOKEN_PREFIX;

export function mint(kind: CredentialKind): { value: string; hash: string } {
  const value = randomSecret(TOKEN_PREFIX[kind]);
  return { value, hash: sha256Hex(value) };
}

/**
 * The family of the tokens a code issued, named after the code (migration
 * 0010): RFC 6749 §4.1.2's "revoke the tokens issued from a replayed code"
 * goes through the family index, and tokens need no index on code_hash.
 */
export function familyOfCode(codeHash: string): string {
  return `fam_${codeHash.slice(0, 32)}`;
}
