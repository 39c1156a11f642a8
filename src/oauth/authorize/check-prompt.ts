import { OAuthError, invalidRequest } from '../protocol/errors.js';
import type { AuthorizeStep } from './context.js';

const PROMPTS = ['none', 'login', 'consent'] as const;

/**
 * OIDC Core §3.1.2.1 parameters: `request` and `request_uri` are refused
 * (§6: Serika does not support request objects); `prompt` is a set of
 * none / login / consent, `none` alone; `max_age` a whole number of seconds.
 * `nonce`, `login_hint` and `id_token_hint` are kept for later steps.
 */
export const checkPrompt: AuthorizeStep = (ctx) => {
  if (ctx.params.get('request') !== undefined) throw new OAuthError('request_not_supported', 'Request objects (request) are not supported.');
  if (ctx.params.get('request_uri') !== undefined) throw new OAuthError('request_uri_not_supported', 'request_uri is not supported.');
  const values = (ctx.params.get('prompt') ?? '').split(' ').filter(Boolean);
  const unknown = values.find((v) => !(PROMPTS as readonly string[]).includes(v));
  if (unknown !== undefined) throw invalidRequest(`prompt may hold none, login and consent, not ${unknown.slice(0, 40)}.`);
  if (values.includes('none') && values.length > 1) throw invalidRequest('prompt=none cannot be combined with other values.');
  ctx.prompt = new Set(values as Array<(typeof PROMPTS)[number]>);
  const maxAge = ctx.params.get('max_age');
  if (maxAge !== undefined) {
    if (!/^\d{1,9}$/.test(maxAge)) throw invalidRequest('max_age must be a whole number of seconds.');
    ctx.maxAge = Number(maxAge);
  }
  ctx.nonce = ctx.params.get('nonce');
  ctx.loginHint = ctx.params.get('login_hint');
  ctx.idTokenHint = ctx.params.get('id_token_hint');
};
