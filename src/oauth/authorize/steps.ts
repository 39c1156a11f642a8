import { checkAcrValues } from './check-acr-values.js';
import { checkClient } from './check-client.js';
import { checkParameters } from './check-parameters.js';
import { checkPkce } from './check-pkce.js';
import { checkPrompt } from './check-prompt.js';
import { checkRedirectUri } from './check-redirect-uri.js';
import { checkResource } from './check-resource.js';
import { checkAuthorizationDetails } from './check-authorization-details.js';
import { checkResponseType } from './check-response-type.js';
import { checkScope } from './check-scope.js';
import type { AuthorizeContext, AuthorizeStep, StepDeps } from './context.js';

/**
 * The authorization request, validated in order. Client and redirect URI
 * come first: until both are verified an error is a page, afterwards a redirect.
 */
const AUTHORIZE_STEPS: ReadonlyArray<AuthorizeStep> = [
  checkClient,
  checkRedirectUri,
  checkParameters,
  checkResponseType,
  checkPkce,
  checkScope,
  checkResource,
  checkAuthorizationDetails,
  checkPrompt,
  checkAcrValues,
];

export async function validateAuthorizeRequest(ctx: AuthorizeContext, deps: StepDeps): Promise<void> {
  for (const step of AUTHORIZE_STEPS) await step(ctx, deps);
}
