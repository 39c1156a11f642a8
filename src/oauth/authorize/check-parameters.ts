import { invalidRequest } from '../protocol/errors.js';
import { malformed, type AuthorizeStep } from './context.js';

/**
 * AZ-14, AZ-16, AZ-17: `state` is kept byte for byte when it is sound, so
 * every later error can echo it; then no parameter may repeat, exceed 2048
 * characters or hold control characters (RFC 6749 §3.1).
 */
export const checkParameters: AuthorizeStep = (ctx) => {
  const state = ctx.params.get('state');
  const stateSound = state !== undefined && !ctx.params.isRepeated('state') && !malformed(state);
  if (stateSound) ctx.state = state;
  ctx.params.rejectRepeats();
  for (const name of ctx.params.names()) {
    const value = ctx.params.get(name);
    if (malformed(name) || (value !== undefined && malformed(value))) {
      throw invalidRequest('A parameter is longer than 2048 characters or holds control characters.');
    }
  }
};
