import type { RegisteredClient } from '../../../clients/service.js';
import type { OAuthParams } from '../../params.js';
import type { IssuedTokens, OAuthStore } from '../../store.js';
import type { AuditService } from '../../../audit/service.js';
import type { RequestOrigin } from '../../../http/request-context.js';
import type { IdTokens } from '../../../oidc/id-token.js';
import type { DeviceCodes } from '../../device/store.js';
import type { BudgetsService } from '../../../consent/budgets.js';
import type { OAuthBudgetsTable } from '../../../storage/schema.js';
import { authorizationDetailsOf } from '../../../consent/budget-rules.js';

export interface GrantContext {
  params: OAuthParams;
  client: RegisteredClient;
  store: OAuthStore;
  now: () => number;
  audit: AuditService;
  idTokens: IdTokens;
  /** PUBLIC_URL, against which resource indicators are read. */
  issuer: string;
  devices: DeviceCodes;
  budgets: BudgetsService;
  /** The token request, for the audit records of replays. */
  origin: RequestOrigin;
}

/** RFC 9396 §7: the token response carries the authorization details granted — the budget, when the grant has one. */
export async function grantedDetails(issued: IssuedTokens, budgets: BudgetsService, userId: string, clientId: string, known?: OAuthBudgetsTable | null): Promise<IssuedTokens> {
  const budget = await budgets.get(userId, clientId, known);
  if (budget) issued.authorization_details = authorizationDetailsOf(budget);
  return issued;
}

export type GrantHandler = (ctx: GrantContext) => Promise<IssuedTokens>;
