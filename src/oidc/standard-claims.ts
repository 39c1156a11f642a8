import type { UserProfile } from '../accounts/users-service.js';

/**
 * OIDC Core §5.1's standard claims of a user, shared by ID tokens and
 * userinfo. §5.3.2: a claim with no value is omitted, never null or "".
 */
export function profileClaims(user: Pick<UserProfile, 'username' | 'avatar'>): Record<string, unknown> {
  return { preferred_username: user.username, name: user.username, ...(user.avatar ? { picture: user.avatar } : {}) };
}

/** With the email scope; Serika does not verify addresses yet (SPEC §7), so email_verified is false. */
export function emailClaims(user: Pick<UserProfile, 'email'>): Record<string, unknown> {
  return user.email ? { email: user.email, email_verified: false } : {};
}
