/**
 * "Recently authenticated" (sudo mode, as GitHub has it): the one rule for whether an account change may go on
 * without asking the password again. SPEC §11 names no extra prompt for "Email" + "Save", "Set up authenticator
 * app" or "Add a passkey"; a session that signed in, or gave its password or a current code again, within
 * RECENT_AUTH_MS goes straight on, an older one is asked first (a session left open on a shared computer cannot
 * quietly take the account over).
 *
 * Never SPEC §12's admin check: that one reads only the session's reauth_at, which a second factor (or the
 * password of an admin who has none) sets on the admin re-authentication page alone.
 */
export const RECENT_AUTH_MS = 15 * 60 * 1000;

/** What the rule reads of a session: when it signed in, and when its user last confirmed it is them (ms). */
export interface AuthenticatedAt {
  authTime: number;
  confirmedAt: number | null;
}

export function recentlyAuthenticated(session: AuthenticatedAt, now: number): boolean {
  const last = Math.max(session.authTime, session.confirmedAt ?? 0);
  return now - last < RECENT_AUTH_MS;
}
