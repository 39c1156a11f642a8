/**
 * SPEC §2: 3–32 characters of [A-Za-z0-9_.-], starting and ending with a
 * letter or digit. The one source of the rule: the sign-up form's `pattern`
 * attribute is this same expression.
 */
export const USERNAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9_.\\-]{1,30}[A-Za-z0-9]';
const USERNAME = new RegExp(`^${USERNAME_PATTERN}$`);

/** Returns a reason when the username breaks the rule, else null. */
export function usernameProblem(username: string): string | null {
  return USERNAME.test(username)
    ? null
    : 'Usernames are 3 to 32 characters of letters, digits, "_", "." and "-", starting and ending with a letter or digit.';
}

/** Uniqueness is case-insensitive (SPEC §1); the username keeps the case it was given. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}
