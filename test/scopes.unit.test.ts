import { describe, expect, it } from 'vitest';
import { askedScopes, parseScopes } from '../src/scopes.js';
import { readClientMetadata } from '../src/clients/client-metadata.js';
import { requestedScopes } from '../src/oauth/authorize/check-scope.js';

/** RFC 6749 §3.3 and OIDC Core §11: a scope string as an app asks, the same at authorize and at registration. */
describe('scopes as asked', () => {
  it('are split on spaces, each once, offline_access accepted and dropped', () => {
    expect(parseScopes(' profile  profile offline_access ')).toEqual(['profile', 'offline_access']);
    expect(askedScopes('openid offline_access profile openid')).toEqual(['openid', 'profile']);
    expect(askedScopes('offline_access')).toEqual([]);
    expect(askedScopes('')).toEqual([]);
  });

  it('read alike at the authorization endpoint and in registration', () => {
    expect(requestedScopes('profile offline_access', ['profile'])).toEqual(['profile']);
    expect(readClientMetadata({ redirect_uris: ['https://a.example/cb'], scope: 'profile offline_access' }).scopes).toEqual(['profile']);
    expect(() => requestedScopes('offline_access', ['profile'])).toThrow('scope names no scope');
    expect(() => readClientMetadata({ redirect_uris: ['https://a.example/cb'], scope: 'offline_access' })).toThrow('scope must name at least one');
  });
});
