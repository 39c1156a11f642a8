import { OAuthError, invalidRequest } from '../protocol/errors.js';
import type { AuthorizeStep } from './context.js';
import { grantRefusal, mayUseGrant } from '../../clients/rules.js';

/** RFC 6749 §3.1.1: only the code flow (AZ-08, AZ-09); the implicit grant is gone (RFC 9700 §2.1.2). */
export const checkResponseType: AuthorizeStep = (ctx) => {
  const type = ctx.params.get('response_type');
  if (type === undefined) throw invalidRequest('response_type is missing.');
  if (type !== 'code') throw new OAuthError('unsupported_response_type', 'Only response_type=code is supported.');
  // RFC 6749 §4.1.2.1: a client registered for the device grant only may not use the code flow.
  if (!mayUseGrant(ctx.client!, 'authorization_code')) throw new OAuthError('unauthorized_client', grantRefusal('authorization_code'));
};
