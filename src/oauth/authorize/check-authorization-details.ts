import { authorizationDetailsParam } from '../protocol/authorization-details.js';
import type { AuthorizeStep } from './context.js';

/**
 * RFC 9396 §2: authorization_details of type serika_budget ask for a spending
 * limit (SPEC §10), of type serika_characters for some characters (SPEC §15,
 * with the characters scope, which check-scope has read).
 */
export const checkAuthorizationDetails: AuthorizeStep = (ctx) => {
  const details = authorizationDetailsParam(ctx.params.get('authorization_details'), ctx.scopes ?? []);
  ctx.budget = details.budget ?? undefined;
  ctx.characters = details.characters ?? undefined;
};
