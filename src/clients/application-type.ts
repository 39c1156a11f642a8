import { ClientMetadataError } from './client-metadata.js';
import { isLoopbackUri } from './loopback-uris.js';

/** OpenID Connect Dynamic Client Registration 1.0 §2: what kind of app registers, which decides its redirect URIs. */
const APPLICATION_TYPES = ['web', 'native'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

/** https serves a web app; loopback http and private-use schemes (RFC 8252 §7.1, §7.3) a native one. */
function servesNative(uri: string): boolean {
  return isLoopbackUri(uri) || !/^https:/i.test(uri);
}

/**
 * SPEC §8: application_type is stored, checked and echoed. `web` takes https
 * redirect URIs only, `native` loopback http or private-use schemes (OpenID
 * DCR §2's rules). Absent, as many MCP clients send it, it is `native` when
 * every redirect URI is a native one (a device-only client has none: native
 * too), else `web`. The URIs are already valid redirect URIs.
 */
export function readApplicationType(given: unknown, redirectUris: readonly string[]): ApplicationType {
  if (given !== undefined && !(APPLICATION_TYPES as readonly unknown[]).includes(given)) {
    throw new ClientMetadataError('invalid_client_metadata', `application_type must be ${APPLICATION_TYPES.join(' or ')}.`);
  }
  const type = (given as ApplicationType | undefined) ?? (redirectUris.every(servesNative) ? 'native' : 'web');
  const misfit = redirectUris.findIndex((uri) => servesNative(uri) !== (type === 'native'));
  if (misfit !== -1) {
    const rule = type === 'web' ? 'takes https redirect URIs only' : 'takes loopback http (127.0.0.1, [::1], localhost) or private-use scheme redirect URIs only';
    throw new ClientMetadataError('invalid_redirect_uri', `redirect_uris[${misfit}]: application_type ${type} ${rule}${given === undefined ? ' (it is web because a redirect URI is https; send application_type, or register the two kinds as two clients)' : ''}.`);
  }
  return type;
}
