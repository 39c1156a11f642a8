import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientsService, RegisteredClient } from '../../clients/service.js';
import { equalKnownLength, sha256Hex } from '../../security/secrets.js';
import { OAuthError, invalidRequest } from './errors.js';
import { decodeComponent } from '../../http/form-body.js';
import type { OAuthParams } from './params.js';
import type { TokenRateLimits } from './rate-limits.js';
import { identify } from '../../http/request-context.js';

type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

interface AuthenticatedClient {
  client: RegisteredClient;
  method: AuthMethod;
}

/** RFC 6749 §2.3.1: an invalid_client answered to Basic credentials carries the Basic challenge. */
function invalidClient(description: string, basic: boolean): OAuthError {
  const error = new OAuthError('invalid_client', description);
  if (basic) error.wwwAuthenticate = 'Basic realm="serika"';
  return error;
}

export function parseBasic(header: string | undefined): { id: string; secret: string } | null {
  if (header === undefined) return null;
  const match = /^Basic(?: +(\S*))? *$/i.exec(header);
  if (!match) return null; // another scheme: not client authentication
  const encoded = match[1] ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw invalidRequest('Malformed Basic credentials.');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) throw invalidRequest('Malformed Basic credentials: no colon.');
  try {
    // RFC 6749 §2.3.1 and Appendix B: Basic credentials are form-urlencoded before base64.
    return { id: decodeComponent(decoded.slice(0, colon)), secret: decodeComponent(decoded.slice(colon + 1)) };
  } catch {
    throw invalidRequest('Malformed Basic credentials: bad percent-encoding.');
  }
}

/**
 * Client authentication at the token, revocation and introspection
 * endpoints: client_secret_basic, client_secret_post, or none for public
 * clients (which identify themselves by client_id).
 */
async function authenticateClient(request: FastifyRequest, params: OAuthParams, clients: ClientsService): Promise<AuthenticatedClient> {
  const basic = parseBasic(request.headers.authorization);
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  // TK-12: one authentication method per request.
  if (basic && bodySecret !== undefined) throw invalidRequest('Use one client authentication method: Basic or client_secret, not both.');
  if (basic && bodyId !== undefined && bodyId !== basic.id) throw invalidRequest('client_id does not match the Basic credentials.');

  const clientId = basic?.id ?? bodyId;
  if (!clientId) throw invalidClient('Client authentication is required.', Boolean(basic));
  const client = await clients.findRegistered(clientId);
  if (!client) throw invalidClient('Client authentication failed.', Boolean(basic));

  if (client.public) {
    // TK-13: a public client has no secret; presenting one is an authentication failure.
    if (basic || bodySecret !== undefined) throw invalidClient('Public clients do not authenticate with a secret.', Boolean(basic));
    return { client, method: 'none' };
  }
  const secret = basic?.secret ?? bodySecret;
  if (secret === undefined) throw invalidClient('Client authentication is required for confidential clients.', false);
  if (client.secretHash === null || !equalKnownLength(sha256Hex(secret), client.secretHash)) {
    throw invalidClient('Client authentication failed.', Boolean(basic));
  }
  return { client, method: basic ? 'client_secret_basic' : 'client_secret_post' };
}

/** The client each request authenticated as, once it did (for what is recorded of its errors, SPEC §12). */
const authenticatedOf = new WeakMap<FastifyRequest, string>();

/** The client_id the request authenticated as, or undefined before (or without) client authentication. */
export function authenticatedClientId(request: FastifyRequest): string | undefined {
  return authenticatedOf.get(request);
}

/** The client a request claims to be, read without judging it (Basic or body client_id). */
export function claimedClientId(request: FastifyRequest, params: OAuthParams): string {
  try {
    return parseBasic(request.headers.authorization)?.id ?? params.get('client_id') ?? '';
  } catch {
    return params.get('client_id') ?? '';
  }
}

export type ClientAuthenticator = (request: FastifyRequest, reply: FastifyReply, params: OAuthParams) => Promise<AuthenticatedClient>;

/** Client authentication as every endpoint uses it: counted by the token rate limits, the client named in the log. */
export function clientAuthenticator(clients: ClientsService, limits: TokenRateLimits): ClientAuthenticator {
  return async (request, reply, params) => {
    let authenticated: AuthenticatedClient;
    try {
      authenticated = await authenticateClient(request, params, clients);
    } catch (error) {
      if (error instanceof OAuthError && error.code === 'invalid_client') await limits.afterAuthentication(request, { failedClaim: claimedClientId(request, params) });
      throw error;
    }
    authenticatedOf.set(request, authenticated.client.clientId);
    identify(request.log, { clientId: authenticated.client.clientId });
    await limits.afterAuthentication(request, { authenticated: authenticated.client.clientId });
    return authenticated;
  };
}
