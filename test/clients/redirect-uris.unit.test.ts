import { describe, expect, it } from 'vitest';
import { asciiUri, checkRedirectUriList, redirectUriProblem } from '../../src/clients/redirect-uris.js';
import { ClientMetadataError, readClientMetadata } from '../../src/clients/client-metadata.js';
import { checkCreateClient } from '../../src/clients/validate.js';
import { AppError } from '../../src/errors.js';

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

/** One check of a list of redirect URIs for the client API, the dashboard and RFC 7591 registration. */
describe('a list of redirect URIs', () => {
  const ten = Array.from({ length: 10 }, (_, i) => `https://app.example.com/cb${i}`);

  it('is stored ASCII-serialized when every URI may be registered and none repeats', () => {
    expect(checkRedirectUriList(['https://c.example/✓', 'http://127.0.0.1/cb'], 'redirectUris')).toEqual({ uris: ['https://c.example/%E2%9C%93', 'http://127.0.0.1/cb'] });
    expect(checkRedirectUriList(ten, 'redirect_uris')).toEqual({ uris: ten });
  });

  it.each([
    [['https://a.example/cb', 'http://a.example/cb'], 'redirectUris[1] must use https'],
    [['https://a.example/cb', 'https://a.example/cb'], 'redirectUris lists a URI more than once.'],
    // Two spellings of one URI are one URI once stored.
    [['https://c.example/✓', 'https://c.example/%E2%9C%93'], 'redirectUris lists a URI more than once.'],
  ])('%j is refused: %s', (uris, reason) => {
    const checked = checkRedirectUriList(uris, 'redirectUris');
    expect('problem' in checked && checked.problem).toContain(reason);
  });

  it('holds up to 10 URIs in the client API and in registration, each checked alike; the code grant needs one', () => {
    const client = { name: 'App', scopes: ['profile'] };
    expect(() => checkCreateClient({ ...client, redirectUris: ten })).not.toThrow();
    expect(readClientMetadata({ redirect_uris: ten }).redirectUris).toEqual(ten);
    expect(() => checkCreateClient({ ...client, redirectUris: [...ten, 'https://app.example.com/more'] })).toThrow(AppError);
    for (const uris of [[], [...ten, 'https://app.example.com/more']]) expect(() => readClientMetadata({ redirect_uris: uris })).toThrow(ClientMetadataError);
    // A device-only client has no redirect URI to register (the client API's service applies the same rule).
    expect(readClientMetadata({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] }).redirectUris).toEqual([]);
    expect(() => readClientMetadata({ redirect_uris: ['https://c.example/✓', 'https://c.example/%E2%9C%93'] })).toThrow('redirect_uris lists a URI more than once.');
    expect(() => readClientMetadata({ redirect_uris: ten, post_logout_redirect_uris: ['https://a.example/bye#x'] })).toThrow('post_logout_redirect_uris[0] must not contain a fragment');
  });
});
