import type { Config } from './config.js';
import { ApiKeysService } from './accounts/api-keys/service.js';
import { UsersService } from './accounts/users-service.js';
import { ClientsService } from './clients/service.js';
import type { Storage } from './storage/database.js';

/**
 * The registry of domain services. Route modules receive only the services
 * they use, never the whole registry.
 */
export interface Services {
  config: Config;
  storage: Storage;
  users: UsersService;
  apiKeys: ApiKeysService;
  clients: ClientsService;
}

export function createServices(config: Config, storage: Storage, now: () => number = Date.now): Services {
  return {
    config,
    storage,
    users: new UsersService(storage.db, now),
    apiKeys: new ApiKeysService(storage.db, now),
    clients: new ClientsService(storage.db, now),
  };
}
