import { InvalidTarget, audienceWithin, requestedAudience, type Audience } from '../../audiences.js';
import { OAuthError } from './errors.js';
import type { OAuthParams } from './params.js';

/** RFC 8707 §2: the audience the `resource` parameters ask for (undefined when none was sent); unknown → invalid_target. */
export function audienceParam(params: OAuthParams, issuer: string): Audience | undefined {
  try {
    return requestedAudience(params.all('resource'), issuer);
  } catch (error) {
    if (error instanceof InvalidTarget) throw new OAuthError('invalid_target', error.message);
    throw error;
  }
}

/** RFC 8707 §2.2: at the token endpoint a resource may narrow what was granted, never widen it; the error when it widens. */
export function widerTarget(asked: Audience | undefined, granted: Audience): OAuthError | null {
  if (asked === undefined || audienceWithin(asked, granted)) return null;
  return new OAuthError('invalid_target', 'resource asks for more than the user granted; it may only narrow the grant.');
}

/** RFC 8707 §2.2: the audience asked for, within what was granted (undefined when none was asked). */
export function narrowedAudience(params: OAuthParams, issuer: string, granted: Audience): Audience | undefined {
  const asked = audienceParam(params, issuer);
  const wider = widerTarget(asked, granted);
  if (wider) throw wider;
  return asked;
}
