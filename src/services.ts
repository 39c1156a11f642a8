import type { Config } from './config.js';
import { ApiKeysService } from './accounts/api-keys/service.js';
import { LoginThrottle } from './accounts/login-throttle.js';
import { SessionsService } from './accounts/sessions.js';
import { UsersService } from './accounts/users-service.js';
import { ClientsService } from './clients/service.js';
import { GrantsService } from './consent/grants.js';
import { OAuthStore } from './oauth/store.js';
import { Gateway } from './generation/gateway.js';
import { UpstreamClient } from './generation/upstream.js';
import { UsageService } from './generation/usage.js';
import { CharactersService } from './resources/characters/service.js';
import type { Storage } from './storage/database.js';

/**
 * The registry of domain services. Route modules receive only the services
 * they use, never the whole registry.
 */
export interface Services {
  config: Config;
  storage: Storage;
  now: () => number;
  users: UsersService;
  apiKeys: ApiKeysService;
  clients: ClientsService;
  sessions: SessionsService;
  throttle: LoginThrottle;
  grants: GrantsService;
  oauth: OAuthStore;
  characters: CharactersService;
  usage: UsageService;
  upstream: UpstreamClient;
  gateway: Gateway;
}

export function createServices(config: Config, storage: Storage, now: () => number = Date.now): Services {
  const oauth = new OAuthStore(
    storage.db,
    { accessToken: config.accessTokenTtl, refreshToken: config.refreshTokenTtl, authCode: config.authCodeTtl },
    now,
  );
  const clients = new ClientsService(storage.db, now, (clientId, removed) => oauth.revokeClientScopes(clientId, removed));
  const usage = new UsageService(storage.db, now);
  const upstream = new UpstreamClient({ baseUrl: config.upstreamBaseUrl, apiKey: config.upstreamApiKey, timeoutMs: config.upstreamTimeoutMs });
  const gateway = new Gateway({
    upstream,
    usage,
    now,
    clientName: async (clientId) => (await clients.findRegistered(clientId))?.name ?? null,
  });
  return {
    config,
    storage,
    now,
    users: new UsersService(storage.db, now),
    apiKeys: new ApiKeysService(storage.db, now),
    clients,
    sessions: new SessionsService(storage.db, now),
    throttle: new LoginThrottle(storage.db, now),
    grants: new GrantsService(storage.db, now),
    oauth,
    characters: new CharactersService(storage.db, now),
    usage,
    upstream,
    gateway,
  };
}
