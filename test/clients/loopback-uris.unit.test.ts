import { describe, expect, it } from 'vitest';
import { isLoopbackUri, withoutLoopbackPort } from '../../src/clients/loopback-uris.js';
import { redirectUriProblem } from '../../src/clients/redirect-uris.js';
import { redirectUriMatches } from '../../src/oauth/authorize/check-redirect-uri.js';

/** RFC 8252 §7.3, §8.3: which redirect URIs are loopback ones, the same for registration, matching and the consent page. */
describe('loopback redirect URIs', () => {
  it.each([
    'http://127.0.0.1/cb',
    'http://127.0.0.1:51234/cb',
    'http://[::1]:8080/cb?x=1',
    'http://localhost',
    'http://localhost:3000',
    'http://localhost:/cb',
    'HTTP://LocalHost:3000/cb',
  ])('%s is loopback, may be registered over http and matches on any port', (uri) => {
    expect(isLoopbackUri(uri)).toBe(true);
    expect(redirectUriProblem(uri)).toBeNull();
    expect(withoutLoopbackPort(uri)).not.toBeNull();
  });

  it.each([
    'https://localhost/cb',
    'http://localhost.example.com/cb',
    'http://127.0.0.1.example.com/cb',
    'http://localhost@evil.example/cb',
    'http://localhost:80@evil.example/cb',
    'http://127.0.0.2/cb',
    // Other spellings of the loopback addresses, which a URL parser would turn into 127.0.0.1 or [::1].
    'http://127.1/cb',
    'http://0x7f.0.0.1/cb',
    'http://2130706433/cb',
    'http://[0:0:0:0:0:0:0:1]/cb',
    'com.example.app:/cb',
  ])('%s is not loopback', (uri) => {
    expect(isLoopbackUri(uri)).toBe(false);
    expect(withoutLoopbackPort(uri)).toBeNull();
    if (uri.startsWith('http:')) expect(redirectUriProblem(uri)).not.toBeNull();
  });

  it('a loopback URI matches a registered one whatever its port, and only in its port', () => {
    const registered = ['http://127.0.0.1/cb', 'http://localhost:8080/cb?x=1', 'https://app.example.com:8443/cb'];
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'http://localhost/cb?x=1')).toBe(true);
    expect(redirectUriMatches(registered, 'http://localhost:9/cb?x=1')).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cb/')).toBe(false);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/other')).toBe(false);
    expect(redirectUriMatches(registered, 'http://localhost:51234/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'http://[::1]:51234/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'http://localhost:9/cb?x=2')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example.com/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example.com:8443/cb')).toBe(true);
  });
});
