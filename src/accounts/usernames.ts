const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

/** Returns a reason when the username breaks SPEC §1's rule, else null. */
export function usernameProblem(username: string): string | null {
  return USERNAME.test(username) ? null : 'Usernames are 3 to 32 characters of letters, digits, "_", "." and "-".';
}

/** Uniqueness is case-insensitive (SPEC §1); the username keeps the case it was given. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}
