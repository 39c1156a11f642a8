import type { RegisteredClient } from '../../../clients/service.js';
import type { OAuthParams } from '../../protocol/params.js';
import type { OAuthStore } from '../../store/store.js';
import type { IssuedTokens } from '../../store/token-pair.js';
import type { AuditService } from '../../../audit/service.js';
import type { RequestOrigin } from '../../../http/request-context.js';
import type { IdTokens } from '../../../oidc/id-token.js';
import type { DeviceCodes } from '../../device/store.js';
import type { BudgetsService } from '../../../consent/budgets.js';
import type { EventOutbox } from '../../../events/outbox.js';

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
  /** SPEC §13: events to apps (tokens.revoked on a refresh replay). */
  events: EventOutbox;
  /** The token request, for the audit records of replays. */
  origin: RequestOrigin;
}

export type GrantHandler = (ctx: GrantContext) => Promise<IssuedTokens>;
