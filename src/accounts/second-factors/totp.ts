import { Secret, TOTP } from 'otpauth';

/** RFC 6238 as SPEC §11 fixes it: HMAC-SHA-1, 6 digits, 30-second steps, one step either side accepted. */
const PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
const WINDOW = 1;

/** A new shared secret: 160 bits (RFC 4226 §4 recommends the HMAC's output length), in base32 as apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI the QR code holds (Google Authenticator's Key Uri Format, which every app reads). */
export function totpUri(secret: string, issuer: string, account: string): string {
  return new TOTP({ ...PARAMS, issuer, label: account, secret: Secret.fromBase32(secret) }).toString();
}

/**
 * The time step (RFC 6238 §4.2's T) of the code, if it is valid now (±1 step), else null.
 * The caller keeps the last accepted step so a code is accepted once (RFC 6238 §5.2).
 */
export function totpStep(secret: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = TOTP.validate({ ...PARAMS, secret: Secret.fromBase32(secret), token: code, timestamp: now, window: WINDOW });
  return delta === null ? null : Math.floor(now / 1000 / PARAMS.period) + delta;
}
