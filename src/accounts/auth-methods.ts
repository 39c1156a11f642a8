/**
 * How a user proved who they are, as RFC 8176 Authentication Method Reference
 * values (SPEC §11): "pwd" for a password, "otp" for an authenticator app's
 * code (or a recovery code: a one-time password too), "pop" for a passkey
 * (proof of possession of a key), and "mfa" once two factors were used.
 */
export type AuthMethod = 'pwd' | 'otp' | 'pop' | 'mfa';

/** OpenID PAPE's multi-factor policy: the `acr` after two factors, and the one `acr_values` Serika acts on. */
export const MULTI_FACTOR_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

/** OIDC Core §2: acr "0" is what a sign-in below every other level says. */
const BASELINE_ACR = '0';

/** The amr of a sign-in with a password alone. */
export const PASSWORD_ONLY: readonly AuthMethod[] = ['pwd'];

/** The methods a stored amr (space-separated) names; nothing stored (rows older than 0018) is a password sign-in. */
export function parseAmr(stored: string | null | undefined): AuthMethod[] {
  return stored ? (stored.split(' ').filter(Boolean) as AuthMethod[]) : [...PASSWORD_ONLY];
}

export function formatAmr(amr: readonly AuthMethod[]): string {
  return amr.join(' ');
}

/**
 * The amr of a sign-in with a passkey alone (SPEC §11): possession of the key, and the device's user
 * verification (required) as the second factor, so multi-factor (RFC 8176 §2 "mfa").
 */
export const PASSKEY_SIGN_IN: readonly AuthMethod[] = ['pop', 'mfa'];

/** The first factor's methods and the second's, marked multi-factor (RFC 8176 §2 "mfa"). */
export function withSecondFactor(first: readonly AuthMethod[], second: 'otp' | 'pop'): AuthMethod[] {
  return [...new Set([...first.filter((m) => m !== 'mfa'), second]), 'mfa'];
}

export function isMultiFactor(amr: readonly AuthMethod[]): boolean {
  return amr.includes('mfa');
}

/** The ID token's acr for a sign-in with these methods. */
export function acrOf(amr: readonly AuthMethod[]): string {
  return isMultiFactor(amr) ? MULTI_FACTOR_ACR : BASELINE_ACR;
}

/** What `acr_values` may ask for (both metadata documents say so). */
export const ACR_VALUES_SUPPORTED = [MULTI_FACTOR_ACR, BASELINE_ACR] as const;
