import type { RegisteredClient } from '../../../clients/service.js';
import type { OAuthParams } from '../../params.js';
import type { IssuedTokens, OAuthStore } from '../../store.js';
import type { AuditService } from '../../../audit/service.js';
import type { IdTokens } from '../../../oidc/id-token.js';
import type { DeviceCodes } from '../../device/store.js';

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
}

export type GrantHandler = (ctx: GrantContext) => Promise<IssuedTokens>;
