import { describe, expect, it } from 'vitest';
import { redirectUriProblem } from '../../src/clients/redirect-uris.js';

describe('redirect URI registration rules', () => {
  it.each([
    'https://app.example.com/callback',
    'https://app.example.com:8443/cb?tenant=1',
    'http://127.0.0.1/cb',
    'http://127.0.0.1:51234/cb',
    'http://localhost:3000/cb',
    'http://[::1]:8080/cb',
    'com.example.app:/oauth2redirect',
    'com.example.app://callback',
  ])('accepts %s', (uri) => {
    expect(redirectUriProblem(uri)).toBeNull();
  });

  it.each([
    ['a fragment', 'https://app.example.com/cb#x'],
    ['an empty fragment', 'https://app.example.com/cb#'],
    ['http on a public host', 'http://app.example.com/cb'],
    ['http on a private address', 'http://192.168.1.5/cb'],
    ['http on a look-alike host', 'http://localhost.example.com/cb'],
    ['a wildcard host', 'https://*.example.com/cb'],
    ['a wildcard in the path', 'https://example.com/cb/*'],
    ['a relative path', '/cb'],
    ['a relative name', 'callback'],
    ['a scheme-relative URI', '//example.com/cb'],
    ['a custom scheme without a dot', 'myapp:/cb'],
    ['javascript:', 'javascript:alert(1)'],
    ['data:', 'data:text/html,x'],
    ['file:', 'file:///etc/passwd'],
    ['user info', 'https://u:p@example.com/cb'],
    ['spaces', 'https://example.com/a b'],
    ['a newline', 'https://example.com/a\nb'],
    ['an empty string', ''],
    ['an overlong URI', 'https://example.com/' + 'a'.repeat(2100)],
    ['https without a host', 'https:/cb'],
  ])('refuses %s', (_label, uri) => {
    expect(redirectUriProblem(uri)).toEqual(expect.any(String));
  });
});
