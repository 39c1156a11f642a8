import { describe, expect, it } from 'vitest';
import { InvalidTarget, audienceCovers, audienceUris, audienceWithin, parseAudience, requestedAudience } from '../../src/audiences.js';
import { documentUrlProblem, freshFor, isDocumentClientId } from '../../src/clients/metadata-documents.js';
import { ClientMetadataError, readClientMetadata } from '../../src/clients/client-metadata.js';
import { mayConnectTo } from '../../src/security/public-address.js';

const ISSUER = 'https://auth.example.com';

describe('resource indicators (RFC 8707, SPEC §8)', () => {
  it('reads the API, the MCP server and the origin, a trailing slash ignored, host case-insensitively', () => {
    expect(requestedAudience([], ISSUER)).toBeUndefined();
    expect(requestedAudience([`${ISSUER}/api/openai/v1`], ISSUER)).toEqual(['/api/openai/v1']);
    expect(requestedAudience([`${ISSUER}/api/openai/v1/`], ISSUER)).toEqual(['/api/openai/v1']);
    expect(requestedAudience(['https://AUTH.example.com/mcp'], ISSUER)).toEqual(['/mcp']);
    expect(requestedAudience([`${ISSUER}/mcp`, `${ISSUER}/api/openai/v1`], ISSUER)).toEqual(['/api/openai/v1', '/mcp']);
    expect(requestedAudience([ISSUER], ISSUER)).toEqual(['/']);
    expect(requestedAudience([`${ISSUER}/`, `${ISSUER}/mcp`], ISSUER)).toEqual(['/']);
  });

  it.each([
    'mcp',
    '/mcp',
    `${ISSUER}/mcp#x`,
    `${ISSUER}/mcp?x=1`,
    `${ISSUER}/other`,
    `${ISSUER}/MCP`,
    'https://evil.example.com/mcp',
    'http://auth.example.com/mcp',
    'https://auth.example.com:8443/mcp',
    'https://user@auth.example.com/mcp',
    // RFC 3986 §3.3 dot segments, which a URL parser would resolve to /mcp.
    `${ISSUER}/api/openai/v1/../../../mcp`,
    `${ISSUER}/./mcp`,
    `${ISSUER}/mcp/.`,
    `${ISSUER}/x/%2E%2e/mcp`,
    `${ISSUER}/x\\..\\mcp`,
  ])('refuses %s as invalid_target', (indicator) => {
    expect(() => requestedAudience([indicator], ISSUER)).toThrow(InvalidTarget);
  });

  it('the origin covers every resource; narrowing only', () => {
    expect(audienceCovers(['/'], '/mcp')).toBe(true);
    expect(audienceCovers(['/mcp'], '/api/openai/v1')).toBe(false);
    expect(audienceWithin(['/mcp'], ['/'])).toBe(true);
    expect(audienceWithin(['/'], ['/mcp'])).toBe(false);
    expect(audienceWithin(['/mcp', '/api/openai/v1'], ['/mcp'])).toBe(false);
    expect(parseAudience(null)).toEqual(['/']);
    expect(audienceUris(['/api/openai/v1', '/mcp'], ISSUER)).toEqual([`${ISSUER}/api/openai/v1`, `${ISSUER}/mcp`]);
  });
});

describe('addresses a metadata document may be fetched from', () => {
  it.each(['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '::1', 'fe80::1', 'fc00::1', '100.64.0.1', '0.0.0.0', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1', 'not an ip'])(
    'never %s on the public setting',
    (address) => {
      expect(mayConnectTo(address, 'public')).toBe(false);
    },
  );

  it('public unicast addresses only; private only with the development setting, and http only there', () => {
    expect(mayConnectTo('93.184.216.34', 'public')).toBe(true);
    expect(mayConnectTo('2606:4700::1', 'public')).toBe(true);
    expect(mayConnectTo('127.0.0.1', 'any')).toBe(true);
    expect(mayConnectTo('93.184.216.34', 'private')).toBe(false);
    expect(mayConnectTo('10.1.1.1', 'private')).toBe(true);
    expect(mayConnectTo('0.0.0.0', 'any')).toBe(false);
  });
});

describe('client ID metadata document URLs', () => {
  it.each([
    ['http://app.example.com/client.json', 'must be an https URL'],
    ['https://app.example.com/client.json#frag', 'fragment'],
    ['https://user:pw@app.example.com/client.json', 'user name'],
    ['https://app.example.com/a/../client.json', 'path segments'],
    ['https://app.example.com/./client.json', 'path segments'],
    ['https://app.example.com/%2e%2e/client.json', 'path segments'],
    ['https://app.example.com/', 'must have a path'],
    ['https://app.example.com', 'must have a path'],
    ['https://APP.example.com/client.json', 'normal form'],
  ])('%s → %s', (url, problem) => {
    expect(documentUrlProblem(url, false)).toContain(problem);
  });

  it('takes an https URL with a path (and http only with CIMD_ALLOW_PRIVATE)', () => {
    expect(documentUrlProblem('https://app.example.com/oauth/client.json', false)).toBeNull();
    expect(documentUrlProblem('https://app.example.com/client?v=2', false)).toBeNull();
    expect(documentUrlProblem('http://127.0.0.1:8080/client.json', true)).toBeNull();
    expect(isDocumentClientId('client_abc')).toBe(false);
    expect(isDocumentClientId('HTTPS://x/y')).toBe(true);
  });

  it('keeps a document as its Cache-Control says, within 5 minutes and 24 hours', () => {
    expect(freshFor(null)).toBe(300_000);
    expect(freshFor('no-store')).toBe(300_000);
    expect(freshFor('max-age=60')).toBe(300_000);
    expect(freshFor('public, max-age=3600')).toBe(3_600_000);
    expect(freshFor('max-age=9999999')).toBe(86_400_000);
  });
});

describe('client metadata (RFC 7591 §2)', () => {
  const ok = { redirect_uris: ['https://app.example.com/cb'] };

  // RFC 7591's defaults, but for grant_types SPEC §9's: refresh tokens come with the code unless a client says otherwise.
  it('fills in the defaults and ignores what it does not know', () => {
    const metadata = readClientMetadata({ ...ok, something_new: { deep: true } });
    expect(metadata).toMatchObject({ authMethod: 'client_secret_basic', grantTypes: ['authorization_code', 'refresh_token'], responseTypes: ['code'], name: null });
    expect(metadata.scopes).toEqual(['profile', 'email', 'generations', 'characters']);
  });

  it('takes the device grant (RFC 8628) alone or beside the code flow', () => {
    const device = 'urn:ietf:params:oauth:grant-type:device_code';
    expect(readClientMetadata({ ...ok, grant_types: [device], token_endpoint_auth_method: 'none' })).toMatchObject({ grantTypes: [device], responseTypes: [] });
    expect(readClientMetadata({ ...ok, grant_types: ['authorization_code', 'refresh_token', device] }).grantTypes).toHaveLength(3);
  });

  it.each([
    [{}, 'invalid_redirect_uri'],
    [{ redirect_uris: [] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://app.example.com/cb#x'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://*.example.com/cb'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: 'https://app.example.com/cb' }, 'invalid_redirect_uri'],
    [{ ...ok, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    [{ ...ok, grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    [{ ...ok, grant_types: ['refresh_token'] }, 'invalid_client_metadata'],
    [{ ...ok, response_types: ['token'] }, 'invalid_client_metadata'],
    [{ ...ok, client_name: 'x'.repeat(1_000_000) }, 'invalid_client_metadata'],
    [{ ...ok, client_name: 'evil\u202Eppa' }, 'invalid_client_metadata'],
    [{ ...ok, client_name: 42 }, 'invalid_client_metadata'],
    [{ ...ok, scope: 'profile admin' }, 'invalid_client_metadata'],
    [{ ...ok, logo_uri: 'javascript:alert(1)' }, 'invalid_client_metadata'],
    [{ ...ok, id_token_signed_response_alg: 'none' }, 'invalid_client_metadata'],
  ])('%j → %s', (input, code) => {
    let error: unknown;
    try {
      readClientMetadata(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClientMetadataError);
    expect((error as ClientMetadataError).code).toBe(code);
  });
});
