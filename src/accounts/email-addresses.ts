import { AppError } from '../errors.js';

// Deliberately loose (RFC 5321 §4.5.3.1: 64 octets of local part, 255 of domain): the verification link is the real check.
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** The address trimmed, or null when empty; an invalid one is an AppError on the `email` field. */
export function normalizeEmail(raw: string | null | undefined): string | null {
  const email = raw?.trim() || null;
  if (email !== null && (email.length > 320 || !EMAIL.test(email))) {
    throw new AppError('invalid_value', 'That email address is not valid.', 'email');
  }
  return email;
}

/** How addresses are compared (SPEC §11: case-insensitively). */
export function emailKey(email: string): string {
  return email.toLowerCase();
}
