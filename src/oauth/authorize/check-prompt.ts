import { invalidRequest } from '../errors.js';
import type { AuthorizeStep } from './context.js';

/** OpenID Connect Core §3.1.2.1 `prompt`: `consent` always asks, `none` never shows a page; other values are ignored. */
export const checkPrompt: AuthorizeStep = (ctx) => {
  const values = (ctx.params.get('prompt') ?? '').split(' ').filter(Boolean);
  if (values.includes('none') && values.length > 1) throw invalidRequest('prompt=none cannot be combined with other values.');
  if (values.includes('none')) ctx.prompt = 'none';
  else if (values.includes('consent')) ctx.prompt = 'consent';
};
