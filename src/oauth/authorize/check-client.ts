import { ClientIdDocumentError, isDocumentClientId } from '../../clients/metadata-documents.js';
import { OAuthError, invalidRequest } from '../protocol/errors.js';
import { malformed, type AuthorizeStep } from './context.js';
import { suspendedRefusal } from '../../clients/rules.js';
import type { RegisteredClient } from '../../clients/service.js';

/**
 * RFC 6749 §4.1.2.1: a missing, repeated or unknown client_id is told to the
 * user on an error page, never by redirect (AZ-01, AZ-16).
 */
export const checkClient: AuthorizeStep = async (ctx, { clients, documents }) => {
  if (ctx.params.isRepeated('client_id')) throw invalidRequest('client_id was given more than once.');
  const clientId = ctx.params.get('client_id');
  if (clientId === undefined) throw invalidRequest('client_id is missing.');
  if (malformed(clientId)) throw invalidRequest('client_id is not valid.');
  if (isDocumentClientId(clientId)) {
    // SPEC §8: a URL client_id is a client ID metadata document, fetched (or taken from the cache) now.
    if (!documents) throw new OAuthError('invalid_client', 'This server does not accept client ID metadata documents (CIMD=off); register the client instead.', { status: 400 });
    try {
      ctx.client = await documents.resolve(clientId, ctx.requester);
      refuseSuspended(ctx.client);
    } catch (error) {
      if (error instanceof ClientIdDocumentError) {
        throw new OAuthError(error.code, error.message, error.retryAfter === undefined ? { status: 400 } : { status: 429, retryAfter: error.retryAfter });
      }
      throw error;
    }
    return;
  }
  const client = await clients.findRegistered(clientId);
  if (!client) throw new OAuthError('invalid_client', 'No client has this client_id.', { status: 400 });
  ctx.client = client;
  refuseSuspended(client);
};

/** SPEC §12: a suspended app gets a page naming it, never a redirect (its redirect URI is not yet checked, nor trusted). */
function refuseSuspended(client: RegisteredClient): void {
  const suspended = suspendedRefusal(client);
  if (suspended !== null) throw new OAuthError('unauthorized_client', suspended, { status: 403 });
}
