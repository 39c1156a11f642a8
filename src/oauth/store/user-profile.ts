/** The user's columns read beside a token or a code: userinfo's and the ID token's profile claims. */
export const USER_PROFILE = ['users.username as username', 'users.avatar as avatar', 'users.email as email', 'users.verified_email_lower as verifiedEmail'] as const;
