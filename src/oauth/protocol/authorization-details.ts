import { parseAuthorizationDetails, type RequestedDetails } from '../../consent/authorization-details.js';
import { InvalidAuthorizationDetails } from '../../consent/budget-rules.js';
import { CHARACTERS_TYPE } from '../../consent/character-choice.js';
import { OAuthError } from './errors.js';

const NONE: RequestedDetails = Object.freeze({ budget: null, characters: null });

/**
 * RFC 9396 `authorization_details` at the authorization and device
 * authorization endpoints: the spending limit (SPEC §10) and the characters
 * (SPEC §15) asked for, each null when not; malformed →
 * invalid_authorization_details (§5), as is serika_characters without the
 * characters scope it would narrow.
 */
export function authorizationDetailsParam(raw: string | undefined, scopes: readonly string[]): RequestedDetails {
  if (raw === undefined) return NONE;
  try {
    const details = parseAuthorizationDetails(raw);
    if (details.characters && !scopes.includes('characters')) throw new InvalidAuthorizationDetails(`${CHARACTERS_TYPE} needs the characters scope.`);
    return details;
  } catch (error) {
    if (error instanceof InvalidAuthorizationDetails) throw new OAuthError('invalid_authorization_details', error.message);
    throw error;
  }
}
