import { InvalidAuthorizationDetails, parseAuthorizationDetails, type BudgetLimit } from '../../consent/budget-rules.js';
import { OAuthError } from './errors.js';

/**
 * RFC 9396 `authorization_details` at the authorization and device
 * authorization endpoints: the spending limit asked for (SPEC §10), null
 * when none; malformed → invalid_authorization_details (§5).
 */
export function authorizationDetailsParam(raw: string | undefined): BudgetLimit | null {
  if (raw === undefined) return null;
  try {
    return parseAuthorizationDetails(raw);
  } catch (error) {
    if (error instanceof InvalidAuthorizationDetails) throw new OAuthError('invalid_authorization_details', error.message);
    throw error;
  }
}
