import { describe, expect, it } from 'vitest';
import { DEFAULT_ALG, SIGNING_ALGS, isSigningAlg } from '../../src/oidc/signing-algs.js';
import { readClientMetadata } from '../../src/clients/client-metadata.js';
import { checkCreateClient } from '../../src/clients/validate.js';

const client = { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['profile'] };

/** SPEC §7: the one list of ID token algorithms, read by the keys, the discovery documents, the client API and registration. */
describe('ID token signing algorithms', () => {
  it('are RS256 (the default), ES256 and EdDSA', () => {
    expect(SIGNING_ALGS).toEqual(['RS256', 'ES256', 'EdDSA']);
    expect(DEFAULT_ALG).toBe('RS256');
  });

  it.each(SIGNING_ALGS)('%s may be chosen through the client API and through registration', (alg) => {
    expect(isSigningAlg(alg)).toBe(true);
    expect(checkCreateClient({ ...client, idTokenSigningAlg: alg }).idTokenSigningAlg).toBe(alg);
    expect(readClientMetadata({ redirect_uris: ['https://a.example/cb'], id_token_signed_response_alg: alg }).idTokenSigningAlg).toBe(alg);
  });

  it.each(['none', 'HS256', 'rs256', 'ES512', 'Ed25519', ''])('%j is refused everywhere', (alg) => {
    expect(isSigningAlg(alg)).toBe(false);
    expect(() => checkCreateClient({ ...client, idTokenSigningAlg: alg })).toThrow();
    expect(() => readClientMetadata({ redirect_uris: ['https://a.example/cb'], id_token_signed_response_alg: alg })).toThrow(/must be one of RS256, ES256, EdDSA/);
  });

  it('registration without an alg stores none, which reads as the default', () => {
    expect(readClientMetadata({ redirect_uris: ['https://a.example/cb'] }).idTokenSigningAlg).toBeNull();
  });
});
