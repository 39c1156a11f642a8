import type { Kysely } from 'kysely';
import { AppError, invalidValue, notFound } from '../errors.js';
import { formatScopes, isScope, parseScopes, SCOPE_NAMES, type Scope } from '../scopes.js';
import { PREFIX, randomId, randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import { asciiUri, redirectUriProblem } from './redirect-uris.js';
import { ClientsRepo, type ClientChanges, type ClientRow } from './repo.js';
import type { CreateClientInput, UpdateClientInput } from './schemas.js';

/** The client object of SPEC §3. */
export interface Client {
  clientId: string;
  name: string;
  redirectUris: string[];
  scopes: Scope[];
  public: boolean;
  createdAt: string;
}

export interface ClientWithSecret extends Client {
  clientSecret: string | null;
}

/** What the authorization server needs to know of a client. */
export interface RegisteredClient extends Client {
  ownerId: string;
  secretHash: string | null;
}

/** Called after a PATCH removed scopes, so grants, codes and tokens holding them die (SPEC §3). */
export type ScopesRemovedHook = (clientId: string, removed: string[]) => Promise<void>;

export function toClient(row: ClientRow): Client {
  return {
    clientId: row.id,
    name: row.name,
    redirectUris: JSON.parse(row.redirect_uris) as string[],
    scopes: parseScopes(row.scopes).filter(isScope),
    public: row.is_public === 1,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

// Rules the JSON schema cannot express; types, counts and unknown fields are checked before this.
function checkName(name: string): string {
  if (name.trim() === '') throw invalidValue('name', 'name must contain a visible character.');
  if ([...name].length > 100) throw invalidValue('name', 'name must be at most 100 characters.');
  if (/\p{Cc}/u.test(name)) throw invalidValue('name', 'name must not contain control characters.');
  return name;
}

function checkRedirectUris(given: string[]): string {
  if (given.length < 1 || given.length > 10) throw invalidValue('redirectUris', 'Give 1 to 10 redirect URIs.');
  given.forEach((uri, index) => {
    const problem = redirectUriProblem(uri);
    if (problem) throw invalidValue('redirectUris', `redirectUris[${index}] ${problem}.`);
  });
  // Stored as sent in a Location header, so a registered URI can always be redirected to.
  const uris = given.map(asciiUri);
  if (new Set(uris).size !== uris.length) throw invalidValue('redirectUris', 'Each redirect URI may be given only once.');
  return JSON.stringify(uris);
}

function checkScopes(scopes: string[]): string {
  if (scopes.length === 0) throw invalidValue('scopes', 'Choose at least one scope.');
  if (new Set(scopes).size !== scopes.length) throw invalidValue('scopes', 'Each scope may be given only once.');
  const unknown = scopes.find((s) => !isScope(s));
  if (unknown !== undefined) {
    throw invalidValue('scopes', `Unknown scope ${JSON.stringify(unknown)}; known scopes are ${SCOPE_NAMES.join(", ")}.`);
  }
  return formatScopes(scopes);
}

export class ClientsService {
  private readonly repo: ClientsRepo;

  constructor(
    db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly onScopesRemoved: ScopesRemovedHook = async () => {},
  ) {
    this.repo = new ClientsRepo(db);
  }

  /** Any client by ID, for the OAuth endpoints; undefined when unknown. */
  async findRegistered(clientId: string): Promise<RegisteredClient | undefined> {
    if (clientId.length > 200) return undefined;
    const row = await this.repo.findById(clientId);
    return row && { ...toClient(row), ownerId: row.user_id, secretHash: row.secret_hash };
  }

  async create(userId: string, input: CreateClientInput): Promise<ClientWithSecret> {
    const isPublic = input.public === true;
    const secret = isPublic ? null : randomSecret(PREFIX.clientSecret);
    const now = this.now();
    const row: ClientRow = {
      id: randomId(PREFIX.clientId),
      user_id: userId,
      name: checkName(input.name),
      redirect_uris: checkRedirectUris(input.redirectUris),
      scopes: checkScopes(input.scopes),
      is_public: isPublic ? 1 : 0,
      secret_hash: secret === null ? null : sha256Hex(secret),
      created_at: now,
      updated_at: now,
    };
    await this.repo.insert(row);
    return { ...toClient(row), clientSecret: secret };
  }

  async list(userId: string): Promise<Client[]> {
    return (await this.repo.listOwned(userId)).map(toClient);
  }

  async get(userId: string, clientId: string): Promise<Client> {
    return toClient(await this.owned(userId, clientId));
  }

  async update(userId: string, clientId: string, input: UpdateClientInput): Promise<Client> {
    const before = toClient(await this.owned(userId, clientId));
    const changes: ClientChanges = { updated_at: this.now() };
    if (input.name !== undefined) changes.name = checkName(input.name);
    if (input.redirectUris !== undefined) changes.redirect_uris = checkRedirectUris(input.redirectUris);
    if (input.scopes !== undefined) changes.scopes = checkScopes(input.scopes);
    if (!(await this.repo.updateOwned(userId, clientId, changes))) throw notFound('client');
    if (input.scopes !== undefined) {
      const removed = before.scopes.filter((s) => !input.scopes!.includes(s));
      if (removed.length > 0) await this.onScopesRemoved(clientId, removed);
    }
    return this.get(userId, clientId);
  }

  /** The old secret stops working at once: only the new hash is stored (SPEC §3, CM-03). */
  async resetSecret(userId: string, clientId: string): Promise<{ clientId: string; clientSecret: string }> {
    const row = await this.owned(userId, clientId);
    if (row.is_public === 1) {
      throw new AppError('public_client', 'Public clients have no secret to reset; they authenticate with PKCE alone.');
    }
    const secret = randomSecret(PREFIX.clientSecret);
    const changed = await this.repo.updateOwned(userId, clientId, { secret_hash: sha256Hex(secret), updated_at: this.now() });
    if (!changed) throw notFound('client');
    return { clientId, clientSecret: secret };
  }

  async delete(userId: string, clientId: string): Promise<void> {
    if (!(await this.repo.deleteOwned(userId, clientId))) throw notFound('client');
  }

  private async owned(userId: string, clientId: string): Promise<ClientRow> {
    const row = await this.repo.findOwned(userId, clientId);
    if (!row) throw notFound('client');
    return row;
  }
}
