import type { FastifyInstance } from 'fastify';
import type { BudgetsService } from '../consent/budgets.js';
import type { UsersService } from '../accounts/users-service.js';
import { OAuthError, invalidRequest } from './protocol/errors.js';
import { OAuthParams } from './protocol/params.js';
import type { ClientAuthenticator } from './protocol/client-auth.js';
import type { OAuthStore } from './store/store.js';
import { API } from '../paths.js';
import type { AuditService } from '../audit/service.js';

export interface TokenEndpointsDeps {
  /** Client authentication with its rate limits (rate-limits.ts). */
  authenticate: ClientAuthenticator;
  users: UsersService;
  store: OAuthStore;
  now: () => number;
  /** PUBLIC_URL: audiences are shown as absolute resource identifiers. */
  issuer: string;
  /** Introspection shows a grant's budget (SPEC §10). */
  budgets: BudgetsService;
  /** Revocations are security events (token.revoked). */
  audit: AuditService;
}

/** Parses, refuses repeats, and requires `token` (RV-05). */
export function tokenParams(body: unknown): { params: OAuthParams; token: string } {
  const params = OAuthParams.fromBody(body).rejectRepeats();
  const token = params.get('token');
  if (token === undefined) throw invalidRequest('token is required.');
  return { params, token };
}

/**
 * POST /oauth/revoke (RFC 7009). Unknown tokens are a 200 (§2.2); a
 * client revokes only its own tokens: another client's token is refused and
 * stays valid (RV-04). token_type_hint is only a hint: the token is found by
 * its hash whatever the hint says (§2.1).
 */
export async function revokeRoute(scope: FastifyInstance, deps: TokenEndpointsDeps): Promise<void> {
  scope.post(
    API.revoke,
    {
      schema: {
        tags: ['oauth'],
        summary: 'Token revocation (RFC 7009)',
        description: 'token, optional token_type_hint. Confidential clients authenticate; public clients send client_id. A refresh token takes its whole family with it.',
      },
    },
    async (request, reply) => {
      const { params, token } = tokenParams(request.body);
      const { client } = await deps.authenticate(request, reply, params);
      const row = await deps.store.tokens.find(token);
      if (row) {
        if (row.client_id !== client.clientId) throw new OAuthError('invalid_request', 'This token was not issued to this client.');
        // RV-02: revoking a refresh token ends its family, access tokens included.
        const revoked = row.kind === 'refresh' ? await deps.store.revocation.family(row.family_id, 'revocation') : await deps.store.revocation.token(row.token_hash);
        // Recorded only when something was live: revoking a dead token again is a 200 (RFC 7009 §2.2) and no event.
        if (revoked > 0) {
          await deps.audit.record({ type: 'token.revoked', userId: row.user_id, clientId: client.clientId, detail: { tokenType: `${row.kind}_token`, tokensRevoked: revoked } }, request);
        }
      }
      return reply.code(200).send();
    },
  );
}
