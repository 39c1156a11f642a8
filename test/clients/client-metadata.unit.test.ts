import { describe, expect, it } from 'vitest';
import { ClientMetadataError, readClientMetadata } from '../../src/clients/client-metadata.js';

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
