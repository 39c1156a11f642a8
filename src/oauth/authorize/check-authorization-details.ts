import { authorizationDetailsParam } from '../protocol/authorization-details.js';
import type { AuthorizeStep } from './context.js';

/** RFC 9396 §2: authorization_details of type serika_budget ask for a spending limit (SPEC §10). */
export const checkAuthorizationDetails: AuthorizeStep = (ctx) => {
  ctx.budget = authorizationDetailsParam(ctx.params.get('authorization_details')) ?? undefined;
};
