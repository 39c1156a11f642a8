import { parseAudience } from '../../../audiences.js';
import { budgetWiderThan, parseAgentDetails, type AgentDetails } from '../../../consent/agent-details.js';
import { grantedDetailsOf } from '../../../consent/authorization-details.js';
import { InvalidAuthorizationDetails } from '../../../consent/budget-rules.js';
import { charactersWiderThan, decodeChoice, effectiveChoice } from '../../../consent/character-choice.js';
import { parseScopes } from '../../../scopes.js';
import { OAuthError, invalidGrant, invalidRequest } from '../../protocol/errors.js';
import { narrowedAudience } from '../../protocol/resource-param.js';
import type { ActClaim } from '../../store/agent-tokens.js';
import { MAX_AGENT_DEPTH } from '../../store/revocation.js';
import type { IssuedTokens } from '../../store/token-pair.js';
import { tokenCharacters } from '../../store/token-lookup.js';
import { tokenState } from '../../store/token-state.js';
import type { GrantHandler } from './types.js';

/** RFC 8693 §3: the one token type Serika exchanges, and issues. */
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** A sub-agent's label (SPEC §15). */
const MAX_AGENT_NAME = 64;

function agentNameParam(value: string | undefined): string | null {
  if (value === undefined) return null;
  // Shown on the dashboard and in introspection: printable text only.
  if (value.length === 0 || value.length > MAX_AGENT_NAME || /\p{Cc}/u.test(value)) throw invalidRequest(`agent_name must be 1-${MAX_AGENT_NAME} characters without control characters.`);
  return value;
}

function detailsParam(raw: string | undefined): AgentDetails {
  if (raw === undefined) return { budget: null, characters: null };
  try {
    return parseAgentDetails(raw);
  } catch (error) {
    if (error instanceof InvalidAuthorizationDetails) throw new OAuthError('invalid_authorization_details', error.message);
    throw error;
  }
}

/**
 * RFC 8693 token exchange for sub-agents (SPEC §15): a client trades one of
 * its own access tokens for a narrower one — scope, resource, budget,
 * characters and lifetime no wider than the subject token's — for an agent it starts. No
 * refresh token (§2.2.1: the sub-agent asks its orchestrator again). A child
 * may exchange again, at most MAX_AGENT_DEPTH levels below the user's token.
 */
export const tokenExchangeGrant: GrantHandler = async ({ params, client, budgets, store, now, audit, issuer, origin }): Promise<IssuedTokens> => {
  const subjectToken = params.get('subject_token');
  if (subjectToken === undefined) throw invalidRequest('subject_token is required.');
  const subjectType = params.get('subject_token_type');
  if (subjectType === undefined) throw invalidRequest('subject_token_type is required.');
  // RFC 8693 §2.2.2: a token type the server does not take is an invalid_request.
  if (subjectType !== ACCESS_TOKEN_TYPE) throw invalidRequest(`Unsupported subject_token_type; Serika exchanges ${ACCESS_TOKEN_TYPE} only.`);
  const requestedType = params.get('requested_token_type');
  if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) throw invalidRequest(`Unsupported requested_token_type; Serika issues ${ACCESS_TOKEN_TYPE} only.`);
  // The actor is the authenticated client itself (act.sub); delegation to another party's token is not offered.
  if (params.get('actor_token') !== undefined || params.get('actor_token_type') !== undefined) throw invalidRequest('actor_token is not supported; the acting party is the authenticated client.');
  if (params.get('audience') !== undefined) throw invalidRequest('audience is not supported; name the resource with resource (RFC 8707).');
  const agentName = agentNameParam(params.get('agent_name'));
  const details = detailsParam(params.get('authorization_details'));

  const parent = await store.tokens.findWithAgent(subjectToken);
  const at = now();
  if (!parent || parent.kind !== 'access') throw invalidGrant('The subject_token is not a valid access token.');
  if (parent.client_id !== client.clientId) throw invalidGrant('The subject_token was issued to another client.');
  if (tokenState(parent, at) !== 'live') throw invalidGrant('The subject_token is expired or revoked.');
  const depth = (parent.agent_depth ?? 0) + 1;
  // RFC 8693 §2.2.2: a subject token "unacceptable based on policy" is an invalid_request.
  if (depth > MAX_AGENT_DEPTH) throw invalidRequest(`Sub-agent tokens nest at most ${MAX_AGENT_DEPTH} levels below the user's token; this subject_token is ${depth - 1} levels down.`);

  // Each field may only narrow (SPEC §15): scope (RFC 6749 §3.3), resource (RFC 8707 §2.2), budget and characters (RFC 9396).
  const parentScopes = parseScopes(parent.scopes);
  let scopes = parentScopes;
  const requested = params.get('scope');
  if (requested !== undefined) {
    scopes = parseScopes(requested);
    if (scopes.length === 0 || scopes.some((s) => !parentScopes.includes(s))) throw new OAuthError('invalid_scope', 'The requested scope exceeds the subject_token\'s scope.');
  }
  const parentAudience = parseAudience(parent.resources);
  const audience = narrowedAudience(params, issuer, parentAudience) ?? parentAudience;
  if (details.budget) {
    const parentLineage = parent.agent_lineage?.split(' ') ?? [];
    const parentBudget = parentLineage.length > 0 ? await budgets.lineageState(parent.user_id, client.clientId, parentLineage) : await budgets.get(parent.user_id, client.clientId);
    const wider = parentBudget ? budgetWiderThan(details.budget, parentBudget) : null;
    if (wider) throw new OAuthError('invalid_authorization_details', wider);
  }
  // The child's own narrowing: the ids asked (within what the parent sees now), else the parent's own; the grant's
  // choice applies on top at every call, so a later change on the connected-apps card reaches the child too.
  if (details.characters) {
    const wider = charactersWiderThan(details.characters, tokenCharacters(parent));
    if (wider) throw new OAuthError('invalid_authorization_details', wider);
  }
  const ownCharacters = details.characters ?? decodeChoice(parent.agent_characters);

  // RFC 8693 §4.1: the current actor outermost, the ones before it nested.
  const parentAct = parent.agent_act === null ? undefined : (JSON.parse(parent.agent_act) as ActClaim);
  const act: ActClaim = { sub: client.clientId, ...(agentName !== null ? { agent_name: agentName } : {}), ...(parentAct ? { act: parentAct } : {}) };
  // Never past the subject token's own life (SPEC §15).
  const expiresAt = Math.min(at + store.lifetimes.accessToken * 1000, parent.expires_at);
  const issued = await store.agents.issue({
    parent,
    scopes,
    audience,
    expiresAt,
    agentName,
    act,
    characters: ownCharacters,
    // The cap and the audit event commit with the token: one commit (group commit's, when on).
    alongside: async (trx, hash) => {
      await budgets.createAgent(trx, hash, parent.user_id, client.clientId, details.budget);
      await audit.record({ type: 'token.exchanged', userId: parent.user_id, clientId: client.clientId, detail: { depth, agentName, scope: scopes.join(' ') } }, origin, trx);
    },
  });
  if (!issued) throw invalidGrant('The subject_token was revoked.');
  const response: IssuedTokens = {
    access_token: issued.value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: Math.floor((expiresAt - at) / 1000),
    scope: scopes.join(' '),
  };
  // RFC 9396 §7: what the child holds — its cap, and with the characters scope the characters it may see (none listed: all).
  const seen = scopes.includes('characters') ? effectiveChoice(decodeChoice(parent.grant_characters), ownCharacters) : null;
  const granted = grantedDetailsOf(details.budget, seen);
  if (granted) response.authorization_details = granted;
  return response;
};
