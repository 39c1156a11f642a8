import type { RegisteredClient } from '../../../clients/service.js';
import type { OAuthParams } from '../../params.js';
import type { IssuedTokens, OAuthStore } from '../../store.js';

export interface GrantContext {
  params: OAuthParams;
  client: RegisteredClient;
  store: OAuthStore;
  now: () => number;
}

export type GrantHandler = (ctx: GrantContext) => Promise<IssuedTokens>;
