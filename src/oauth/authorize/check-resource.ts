import { audienceParam } from '../protocol/resource-param.js';
import type { AuthorizeStep } from './context.js';

/**
 * RFC 8707 §2: `resource` (repeatable) names what the token is for; none
 * means the origin, every Serika resource (SPEC §8). Unknown → invalid_target.
 */
export const checkResource: AuthorizeStep = (ctx, { issuer }) => {
  ctx.audience = audienceParam(ctx.params, issuer);
};
