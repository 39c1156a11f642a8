import { AppError } from '../errors.js';

// A plain addr-spec only (RFC 5322 §3.4.1), 64 octets of local part and 255 of domain (RFC 5321 §4.5.3.1): none of
// the characters that make a name-addr, a group, a list, a quoted string, a comment or a domain literal (§3.4, §3.2.2:
// < > ( ) , ; : " [ ] \ and whitespace), which a mailer would parse into some other recipient or several; one "@";
// a dot in the domain. Otherwise loose: the verification link is the real check.
const LOCAL = String.raw`[^\s\p{Cc}@<>(),;:"[\]\\]{1,64}`;
const LABEL = String.raw`[^\s\p{Cc}@<>(),;:"[\]\\.]+`;
const EMAIL = new RegExp(String.raw`^${LOCAL}@(?=.{1,255}$)${LABEL}(?:\.${LABEL})+$`, 'u');

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
