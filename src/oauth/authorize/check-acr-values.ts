import { MULTI_FACTOR_ACR } from '../../accounts/auth-methods.js';
import type { AuthorizeStep } from './context.js';

/**
 * OIDC Core §3.1.2.1 `acr_values`: space-separated, in order of preference. Serika acts on
 * one value (SPEC §11), the multi-factor policy: the sign-in must have used two factors.
 * Other values are voluntary and ask nothing more; the ID token's acr says what was done.
 */
export const checkAcrValues: AuthorizeStep = (ctx) => {
  const values = (ctx.params.get('acr_values') ?? '').split(' ').filter(Boolean);
  ctx.multiFactor = values.includes(MULTI_FACTOR_ACR);
};
