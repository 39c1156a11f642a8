import { describe, expect, it } from 'vitest';
import { asciiUri, redirectUriProblem } from '../../src/clients/redirect-uris.js';

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
    ['a fragment', 'https://app.example.com/cb#x', 'fragment'],
    ['an empty fragment', 'https://app.example.com/cb#', 'fragment'],
    ['http on a public host', 'http://app.example.com/cb', 'must use https'],
    ['http on a private address', 'http://192.168.1.5/cb', 'must use https'],
    ['http on a look-alike host', 'http://localhost.example.com/cb', 'must use https'],
    ['a wildcard host', 'https://*.example.com/cb', 'wildcard'],
    ['a wildcard in the path', 'https://example.com/cb/*', 'wildcard'],
    ['a relative path', '/cb', 'absolute URI with a scheme'],
    ['a relative name', 'callback', 'absolute URI with a scheme'],
    ['a scheme-relative URI', '//example.com/cb', 'absolute URI with a scheme'],
    ['a custom scheme without a dot', 'myapp:/cb', 'private-use scheme with a dot'],
    ['javascript:', 'javascript:alert(1)', 'javascript: scheme'],
    ['data:', 'data:text/html,x', 'data: scheme'],
    ['file:', 'file:///etc/passwd', 'file: scheme'],
    ['user info', 'https://u:p@example.com/cb', 'user name or password'],
    ['spaces', 'https://example.com/a b', 'spaces or control characters'],
    ['a newline', 'https://example.com/a\nb', 'spaces or control characters'],
    ['an empty string', '', 'must not be empty'],
    ['an overlong URI', 'https://example.com/' + 'a'.repeat(2100), 'at most 2048 characters'],
    ['https without a host', 'https:/cb', 'must name a host'],
  ])('refuses %s', (_label, uri, reason) => {
    expect(redirectUriProblem(uri)).toContain(reason);
  });

  it.each([
    ['https://c.example/✓', 'https://c.example/%E2%9C%93'],
    ['https://bücher.example/cb', 'https://xn--bcher-kva.example/cb'],
    ['https://app.example.com/cb', 'https://app.example.com/cb'],
    ['com.example.app:/cb', 'com.example.app:/cb'],
  ])('serializes %s as ASCII for storage and Location headers', (uri, ascii) => {
    expect(asciiUri(uri)).toBe(ascii);
  });
});
