/** The scopes Serika knows (SPEC §4), with the plain words shown to users. */
export const SCOPES = {
  profile: 'See your user ID, username and avatar',
  generations: 'Generate text and images on your behalf',
  characters: 'Read your characters',
} as const;

export type Scope = keyof typeof SCOPES;
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

export function isScope(value: string): value is Scope {
  return Object.hasOwn(SCOPES, value);
}
