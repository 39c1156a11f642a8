import type { UserProfile } from '../accounts/users-service.js';

/**
 * OIDC Core §5.1's standard claims of a user, shared by ID tokens and
 * userinfo. §5.3.2: a claim with no value is omitted, never null or "".
 */
export function profileClaims(user: Pick<UserProfile, 'username' | 'avatar'>): Record<string, unknown> {
  return { preferred_username: user.username, name: user.username, ...(user.avatar ? { picture: user.avatar } : {}) };
}

/** With the email scope: email_verified is true once the address's verification link was followed (SPEC §7, §11). */
export function emailClaims(user: Pick<UserProfile, 'email' | 'verifiedEmail'>): Record<string, unknown> {
  return user.email ? { email: user.email, email_verified: user.verifiedEmail !== null } : {};
}
