import { InvalidAuthorizationDetails, parseAuthorizationDetails } from '../../consent/budget-rules.js';
import { OAuthError } from '../errors.js';
import type { AuthorizeStep } from './context.js';

/** RFC 9396 §2: authorization_details of type serika_budget ask for a spending limit (SPEC §10). */
export const checkAuthorizationDetails: AuthorizeStep = (ctx) => {
  const raw = ctx.params.get('authorization_details');
  if (raw === undefined) return;
  try {
    ctx.budget = parseAuthorizationDetails(raw) ?? undefined;
  } catch (error) {
    if (error instanceof InvalidAuthorizationDetails) throw new OAuthError('invalid_authorization_details', error.message);
    throw error;
  }
};
