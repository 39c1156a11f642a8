/**
 * The ID token algorithms Serika signs with (SPEC §7): RS256 by default, ES256 and EdDSA (Ed25519)
 * per client. The one list: the signing keys, the discovery documents, the client API's schema,
 * dynamic registration and the dashboard read it.
 */
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];
/** OpenID Connect Core §3.1.3.7 and Dynamic Client Registration §2: RS256 when a client names none. */
export const DEFAULT_ALG: SigningAlg = 'RS256';

export function isSigningAlg(value: string): value is SigningAlg {
  return (SIGNING_ALGS as readonly string[]).includes(value);
}
