import { invalidRequest } from '../protocol/errors.js';
import { isValidPkceValue } from '../protocol/pkce.js';
import type { AuthorizeStep } from './context.js';

/** RFC 7636 §4.3 and RFC 9700 §2.1.1: PKCE with S256 for every client; plain is refused (AZ-10…AZ-12). */
export const checkPkce: AuthorizeStep = (ctx) => {
  const challenge = ctx.params.get('code_challenge');
  if (challenge === undefined) throw invalidRequest('code_challenge is required (PKCE with S256).');
  if (ctx.params.get('code_challenge_method') !== 'S256') throw invalidRequest('code_challenge_method must be S256.');
  if (!isValidPkceValue(challenge)) throw invalidRequest('code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~.');
  ctx.codeChallenge = challenge;
};
