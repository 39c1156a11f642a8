import { hash, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Recognisable prefixes for every credential Serika hands out (SPEC §4): a
 * leaked value can be identified by secret scanners, and the kinds never mix.
 */
export const PREFIX = {
  apiKey: 'sk-serika-',
  clientId: 'client_',
  clientSecret: 'secret_',
} as const;

/** The OAuth credentials' prefixes (SPEC §4: access and refresh tokens and codes differ). */
export const TOKEN_PREFIX = {
  access: 'serika_at_',
  refresh: 'serika_rt_',
  code: 'serika_ac_',
  device: 'serika_dc_',
} as const;

/** Which kind of Serika credential a presented value is, by its prefix (a hint for errors, never an authentication). */
export function credentialKindOf(value: string): 'api_key' | 'access_token' | 'refresh_token' | null {
  if (value.startsWith(PREFIX.apiKey)) return 'api_key';
  if (value.startsWith(TOKEN_PREFIX.access)) return 'access_token';
  if (value.startsWith(TOKEN_PREFIX.refresh)) return 'refresh_token';
  return null;
}

/**
 * CSPRNG bytes drawn from a 4 KiB batch: one call into the CSPRNG per 128
 * secrets instead of one each (a budgeted call draws two ids, a redemption
 * three; bench/NOTES.md), as Node's own
 * crypto.randomUUID batches. Every byte is handed out once; a spent batch is
 * replaced, never refilled, so nothing handed out changes afterwards.
 */
const BATCH = 4096;
let batch = Buffer.alloc(0);
let offset = 0;
function randomBytesFromBatch(size: number): Buffer {
  if (offset + size > batch.length) {
    batch = randomFillSync(Buffer.allocUnsafeSlow(BATCH));
    offset = 0;
  }
  const bytes = batch.subarray(offset, offset + size);
  offset += size;
  return bytes;
}

/** 256 bits from the CSPRNG, base64url without padding (43 characters). */
export function randomSecret(prefix: string): string {
  return prefix + randomBytesFromBatch(32).toString('base64url');
}

/** A public identifier: 128 random bits as hex is plenty for uniqueness. */
export function randomId(prefix: string): string {
  return prefix + randomBytesFromBatch(16).toString('hex');
}

/**
 * A public identifier that sorts by creation time: the millisecond (12 hex digits) then 64 random bits. As a primary
 * key its B-tree grows at its right edge, so a commit of many rows dirties one index page, not one page per row.
 */
export function sortableId(prefix: string, now: number): string {
  return prefix + sortableTime(now) + randomBytesFromBatch(8).toString('hex');
}

/** A millisecond time as 12 hex digits (until the year 10889): strings that sort as the times do. */
export function sortableTime(now: number): string {
  return Math.floor(now).toString(16).padStart(12, '0');
}

/**
 * Secrets are stored only as their SHA-256 (hex); they are 256-bit random, so no salt or stretching is needed.
 * crypto.hash, not createHash: no Hash object per call (a token request hashes six times; bench/NOTES.md).
 */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/**
 * Constant-time string comparison (CM-05). Both sides are hashed first so
 * that inputs of different lengths neither throw nor leak their length.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = hash('sha256', a, 'buffer');
  const db = hash('sha256', b, 'buffer');
  return timingSafeEqual(da, db) && a.length === b.length;
}

/**
 * Constant-time comparison of strings whose length is no secret: a SHA-256 hex digest against a stored one, a PKCE
 * challenge (sent in the clear). One pass over the bytes, where constantTimeEqual hashes both sides first: a token
 * request compared a client secret's and a verifier's digests that way, four SHA-256 runs more than it needs.
 */
export function equalKnownLength(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
