import { TOKEN_PREFIX, randomSecret, sha256Hex, sortableTime } from '../../security/secrets.js';

export type CredentialKind = keyof typeof TOKEN_PREFIX;

/** A prefix, the issue time (sortableTime's 12 hex digits), then randomSecret's 43 characters (256 bits). */
const TIMED = /^serika_[a-z]{2}_([0-9a-f]{12})[A-Za-z0-9_-]{43}$/;

/**
 * A credential is its prefix, its issue time in hex, and 256 random bits.
 * The time is not secret (its issue time is in every token response); it
 * leads the stored key, so the keys of credentials made together sort
 * together: a group commit's new tokens fill the last page of the key's
 * B-tree instead of dirtying a random page each (on SQLite, each dirty page
 * is a WAL frame and two system calls per commit).
 */
export function mint(kind: CredentialKind, now = Date.now()): { value: string; hash: string } {
  const time = sortableTime(now);
  const value = randomSecret(TOKEN_PREFIX[kind] + time);
  // The time is known here: the key without credentialKey's match of the value (two per redemption).
  return { value, hash: keyOf(time, value) };
}

/** The stored key: the issue time, when the credential has one, then the SHA-256. */
function keyOf(time: string | undefined, value: string): string {
  return (time ?? '') + sha256Hex(value);
}

/**
 * What a credential is stored and looked up by: its issue time and its
 * SHA-256 (hex), or for a credential from before the time was in it (and any
 * string of another shape), its SHA-256 alone — never the secret itself.
 */
export function credentialKey(value: string): string {
  return keyOf(TIMED.exec(value)?.[1], value);
}

/**
 * The family of the tokens a code issued, named after the code (migration
 * 0010): RFC 6749 §4.1.2's "revoke the tokens issued from a replayed code"
 * goes through the family index, and tokens need no index on code_hash.
 */
export function familyOfCode(codeHash: string): string {
  return `fam_${codeHash.slice(0, 32)}`;
}
