import type { RequestOrigin } from '../http/request-context.js';
import type { Kysely } from 'kysely';
import type { Invalidation, InvalidationFeed } from '../storage/invalidations.js';
import { FeedCache, type Eviction } from '../storage/feed-cache.js';
import { AppError, invalidValue, notFound } from '../errors.js';
import { formatScopes, isScope, parseScopes, type Scope } from '../scopes.js';
import { PREFIX, randomId, randomSecret, sha256Hex } from '../security/secrets.js';
import { pageOwned, type PageRequest } from '../storage/paging.js';
import type { ClientKind, Database } from '../storage/schema.js';
import { checkRedirectUriList } from './redirect-uris.js';
import { DEFAULT_GRANT_TYPES, DEVICE_CODE_GRANT, formatGrantTypes, needsRedirectUris, parseGrantTypes, type GrantTypeName } from './rules.js';
import { DEFAULT_ALG, type SigningAlg } from '../oidc/signing-algs.js';
import { nameProblem } from '../visible-text.js';
import { ClientsRepo, type ClientChanges, type ClientRow } from './repo.js';
import type { CreateClientInput, UpdateClientInput } from './schemas.js';
import type { AuditService } from '../audit/service.js';
import { formatWebhookEvents, parseWebhookEvents, type WebhookEventType } from '../events/types.js';
import type { EventTarget } from '../events/worker.js';
import { checkTargetUrl, newWebhookSecret, openWebhookSecret, sealWebhookSecret, type WebhookSettings } from './webhook-fields.js';
import { brandingColumns, brandingOf, checkBrandingInput, newClientTrustColumns } from './branding.js';
import type { ClientLogos, LogoProblem } from './logos.js';
import { CLIENT_LOGO_PREFIX } from '../paths.js';

/** Branding's collaborators: the logo fetcher (null: logos are not fetched), and whether http URIs pass (CIMD_ALLOW_PRIVATE). */
export interface BrandingDeps {
  logos: ClientLogos | null;
  allowHttp: boolean;
}

/** The client object of SPEC §3. */
export interface Client {
  clientId: string;
  name: string;
  redirectUris: string[];
  scopes: Scope[];
  public: boolean;
  createdAt: string;
  /** The alg of this client's ID tokens (SPEC §7). */
  idTokenSigningAlg: SigningAlg;
  /** Where RP-initiated logout may send the user back, compared exactly (SPEC §7). */
  postLogoutRedirectUris: string[];
  /** The grants it may use (SPEC §9). */
  grantTypes: GrantTypeName[];
  /** Where webhooks go (SPEC §13), or null. */
  webhookUrl: string | null;
  /** The event types the webhook receives. */
  webhookEvents: WebhookEventType[];
  /** OpenID Back-Channel Logout 1.0: where logout tokens go, or null. */
  backchannelLogoutUri: string | null;
  /** Branding (SPEC §12): shown on the consent and device pages. */
  logoUri: string | null;
  clientUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
  contacts: string[];
  /** Where Serika serves the logo it fetched from logoUri (a path on its own origin); null while it has none. */
  logoUrl: string | null;
  /** Why logoUri gave no logo: not_an_image, too_large or unavailable; null otherwise. */
  logoError: LogoProblem | null;
  /** Verified by the operator (SPEC §12). */
  verified: boolean;
  /** Suspended by the operator: its tokens are dead, it may neither authorize nor get tokens (SPEC §12). */
  suspended: boolean;
}

/** A response that set a webhook for the first time or rotated its secret: the secret, shown this once (SPEC §13). */
export type WithWebhookSecret<T> = T & { webhookSecret?: string };

export interface ClientWithSecret extends Client {
  clientSecret: string | null;
}

/** What the authorization server needs to know of a client. */
export interface RegisteredClient extends Client {
  /** Null for ownerless clients: registered dynamically or known by a metadata document (SPEC §8). */
  ownerId: string | null;
  kind: ClientKind;
  secretHash: string | null;
  /** When the operator verified it, and who (an admin's user id; null from the CLI). */
  verifiedAt: number | null;
  verifiedBy: string | null;
  suspendedAt: number | null;
}

export function toRegisteredClient(row: ClientRow): RegisteredClient {
  return {
    ...toClient(row),
    ownerId: row.user_id,
    kind: row.kind,
    secretHash: row.secret_hash,
    verifiedAt: row.verified_at === null ? null : Number(row.verified_at),
    verifiedBy: row.verified_by,
    suspendedAt: row.suspended_at === null ? null : Number(row.suspended_at),
  };
}

/** The path Serika serves a client's stored logo at; `v` changes with every fetch, so it may be cached long. */
function logoPath(clientId: string, fetchedAt: number): string {
  return `${CLIENT_LOGO_PREFIX}${encodeURIComponent(clientId)}/logo?v=${fetchedAt.toString(36)}`;
}

/** A client changes or goes with its own row, and with its owner's account (cascade). */
function clientEviction(event: Invalidation): Eviction<RegisteredClient> | null {
  if (event.kind === 'client') return { key: event.key };
  if (event.kind === 'user') return { matches: (client) => client.ownerId === event.key };
  return null;
}

/** How long an ownerless client lives without a grant (SPEC §8). */
const OWNERLESS_UNUSED_MS = 30 * 86_400_000;

/** A metadata document's client_id is its URL, far longer than ours; anything longer is no client. */
const MAX_CLIENT_ID_LENGTH = 2048;

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
    idTokenSigningAlg: (row.id_token_signing_alg ?? DEFAULT_ALG) as SigningAlg,
    postLogoutRedirectUris: row.post_logout_redirect_uris === null ? [] : (JSON.parse(row.post_logout_redirect_uris) as string[]),
    grantTypes: parseGrantTypes(row.grant_types),
    webhookUrl: row.webhook_url,
    webhookEvents: parseWebhookEvents(row.webhook_events),
    backchannelLogoutUri: row.backchannel_logout_uri,
    ...brandingOf(row),
    logoUrl: row.logo_uri !== null && row.logo_fetched_at !== null && row.logo_problem === null ? logoPath(row.id, Number(row.logo_fetched_at)) : null,
    logoError: row.logo_uri === null ? null : (row.logo_problem as LogoProblem | null),
    verified: row.verified_at !== null,
    suspended: row.suspended_at !== null,
  };
}

// Only the rules the JSON schema (schemas.ts) cannot express: types, lengths, counts, repeats,
// known scopes and unknown fields are the schema's, checked by the route or by validate.ts.

function checkName(name: string): string {
  const problem = nameProblem(name);
  if (problem) throw invalidValue('name', `name ${problem}`);
  return name;
}

/** A client of the authorization code grant registers at least one redirect URI; a device-only client needs none (RFC 8628). */
function checkRedirectNeed(redirectUris: readonly string[], grantTypes: readonly string[]): void {
  if (redirectUris.length === 0 && needsRedirectUris(grantTypes)) {
    throw invalidValue('redirectUris', `'redirectUris' needs at least 1 item; only a client whose grantTypes is just "${DEVICE_CODE_GRANT}" may have none.`);
  }
}

function checkRedirectUris(given: string[], field: 'redirectUris' | 'postLogoutRedirectUris' = 'redirectUris'): string {
  const checked = checkRedirectUriList(given, field);
  if ('problem' in checked) throw invalidValue(field, checked.problem);
  return JSON.stringify(checked.uris);
}

export class ClientsService {
  private readonly repo: ClientsRepo;
  private readonly cache: FeedCache<RegisteredClient> | null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly onScopesRemoved: ScopesRemovedHook = async () => {},
    private readonly maxPerUser = 100,
    private readonly audit: AuditService | null = null,
    feed: InvalidationFeed | null = null,
    /** Clients kept in memory (0: none); exact through the feed, as the token cache is. */
    cacheSize = 0,
    /** Webhook secrets' sealing and WEBHOOKS_ALLOW_PRIVATE (SPEC §13); without it a webhook cannot be set. */
    private readonly webhooks: WebhookSettings | null = null,
    private readonly branding: BrandingDeps = { logos: null, allowHttp: false },
  ) {
    this.repo = new ClientsRepo(db, feed);
    this.cache = feed && cacheSize > 0 ? new FeedCache<RegisteredClient>(feed, { max: cacheSize, evicts: clientEviction }) : null;
  }

  /** Any client by ID, for the OAuth endpoints; undefined when unknown. Shared when cached: never changed by callers. */
  async findRegistered(clientId: string): Promise<RegisteredClient | undefined> {
    if (clientId.length > MAX_CLIENT_ID_LENGTH) return undefined;
    const load = async () => {
      const row = await this.repo.findById(clientId);
      return row && toRegisteredClient(row);
    };
    return this.cache ? this.cache.get(clientId, load) : load();
  }

  /** Whether this process would answer a lookup of the client from memory (tests). */
  isCached(clientId: string): boolean {
    return this.cache?.holds(clientId) ?? false;
  }

  /** An ownerless client was just granted: it stays another 30 days (SPEC §8); an owned one is not changed. */
  async markGranted(clientId: string, executor?: Kysely<Database>): Promise<void> {
    await this.repo.markGranted(clientId, this.now(), executor);
  }

  /** SPEC §8: ownerless clients nobody has granted for 30 days (in the pruner's transaction). */
  async pruneOwnerless(trx: Kysely<Database>, now: number): Promise<number> {
    return this.repo.deleteUnusedOwnerless(trx, now - OWNERLESS_UNUSED_MS);
  }

  /** origin: the request (API or dashboard form) that made it, for the audit event. */
  async create(userId: string, input: CreateClientInput, origin?: RequestOrigin): Promise<WithWebhookSecret<ClientWithSecret>> {
    // MAX_CLIENTS_PER_USER (SPEC §1, §3): a clear 400 rather than an ever-growing list.
    if ((await this.repo.countOwned(userId)) >= this.maxPerUser) {
      throw new AppError('invalid_request', `You have ${this.maxPerUser} OAuth clients, the most one user may have (MAX_CLIENTS_PER_USER). Delete one you no longer use first.`);
    }
    checkRedirectNeed(input.redirectUris, input.grantTypes ?? DEFAULT_GRANT_TYPES);
    const branding = checkBrandingInput(input, this.branding.allowHttp);
    const isPublic = input.public === true;
    const secret = isPublic ? null : randomSecret(PREFIX.clientSecret);
    const now = this.now();
    const id = randomId(PREFIX.clientId);
    const webhookUrl = await this.targetUrl('webhookUrl', input.webhookUrl);
    const webhookSecret = webhookUrl ? newWebhookSecret() : null;
    const row: ClientRow = {
      id,
      user_id: userId,
      name: checkName(input.name),
      redirect_uris: checkRedirectUris(input.redirectUris),
      scopes: formatScopes(input.scopes),
      is_public: isPublic ? 1 : 0,
      secret_hash: secret === null ? null : sha256Hex(secret),
      created_at: now,
      updated_at: now,
      id_token_signing_alg: input.idTokenSigningAlg ?? null,
      post_logout_redirect_uris: input.postLogoutRedirectUris?.length ? checkRedirectUris(input.postLogoutRedirectUris, 'postLogoutRedirectUris') : null,
      kind: 'owned',
      metadata: null,
      metadata_expires_at: null,
      last_granted_at: null,
      grant_types: input.grantTypes ? formatGrantTypes(input.grantTypes) : null,
      webhook_url: webhookUrl ?? null,
      webhook_events: formatWebhookEvents(input.webhookEvents),
      webhook_secret: webhookSecret && this.sealSecret(id, webhookSecret),
      backchannel_logout_uri: (await this.targetUrl('backchannelLogoutUri', input.backchannelLogoutUri)) ?? null,
      ...newClientTrustColumns(branding),
    };
    await this.repo.insert(row);
    await this.branding.logos?.follow(row.id, undefined, row.logo_uri, origin?.log);
    const client = toClient((await this.repo.findById(row.id)) ?? row);
    await this.audit?.record({ type: 'client.created', userId, clientId: row.id, detail: { name: row.name, redirectUris: client.redirectUris.join(' '), public: isPublic ? 1 : 0 } }, origin);
    return { ...client, clientSecret: secret, ...(webhookSecret ? { webhookSecret } : {}) };
  }

  /** One page of the user's clients, oldest first (SPEC §3: limit, after). */
  async page(userId: string, request: PageRequest): Promise<{ data: Client[]; hasMore: boolean }> {
    const page = await pageOwned(this.db, 'oauth_clients', userId, request);
    if (!page) throw invalidValue('after', `after must be the id of one of your clients, such as the last_id of the previous page.`);
    return { data: page.rows.map(toClient), hasMore: page.hasMore };
  }

  async list(userId: string): Promise<Client[]> {
    return (await this.repo.listOwned(userId)).map(toClient);
  }

  async get(userId: string, clientId: string): Promise<Client> {
    return toClient(await this.owned(userId, clientId));
  }

  async update(userId: string, clientId: string, input: UpdateClientInput, origin?: RequestOrigin): Promise<WithWebhookSecret<Client>> {
    const beforeRow = await this.owned(userId, clientId);
    const before = toClient(beforeRow);
    const changes: ClientChanges = { updated_at: this.now(), ...brandingColumns(checkBrandingInput(input, this.branding.allowHttp)) };
    if (input.name !== undefined) changes.name = checkName(input.name);
    if (input.redirectUris !== undefined) changes.redirect_uris = checkRedirectUris(input.redirectUris);
    if (input.scopes !== undefined) changes.scopes = formatScopes(input.scopes);
    if (input.idTokenSigningAlg !== undefined) changes.id_token_signing_alg = input.idTokenSigningAlg;
    if (input.grantTypes !== undefined) changes.grant_types = formatGrantTypes(input.grantTypes);
    // SPEC §13: the secret is made (and shown, once) when a webhook URL is first set; a changed URL keeps it.
    // A removed URL takes its secret with it, so setting one again is a first set with a new secret: a
    // cleared webhook's secret never silently signs again (rows cleared before this rule still hold one).
    let webhookSecret: string | undefined;
    if (input.webhookUrl !== undefined) {
      changes.webhook_url = await this.targetUrl('webhookUrl', input.webhookUrl);
      if (changes.webhook_url === null) changes.webhook_secret = null;
      else if (beforeRow.webhook_url === null || beforeRow.webhook_secret === null) {
        webhookSecret = newWebhookSecret();
        changes.webhook_secret = this.sealSecret(clientId, webhookSecret);
      }
    }
    if (input.webhookEvents !== undefined) changes.webhook_events = formatWebhookEvents(input.webhookEvents);
    if (input.backchannelLogoutUri !== undefined) changes.backchannel_logout_uri = await this.targetUrl('backchannelLogoutUri', input.backchannelLogoutUri);
    checkRedirectNeed(input.redirectUris ?? before.redirectUris, input.grantTypes ?? before.grantTypes);
    if (input.postLogoutRedirectUris !== undefined) {
      changes.post_logout_redirect_uris = input.postLogoutRedirectUris.length ? checkRedirectUris(input.postLogoutRedirectUris, 'postLogoutRedirectUris') : null;
    }
    if (!(await this.repo.updateOwned(userId, clientId, changes))) throw notFound('client');
    if (changes.logo_uri !== undefined) await this.branding.logos?.follow(clientId, beforeRow, changes.logo_uri, origin?.log);
    // Where the app's users may be sent is a security event: a stolen key's first move is an attacker's URI.
    await this.recordUrisChange(userId, before, 'redirectUris', changes.redirect_uris, origin);
    await this.recordUrisChange(userId, before, 'postLogoutRedirectUris', changes.post_logout_redirect_uris, origin);
    if (input.scopes !== undefined) {
      const removed = before.scopes.filter((s) => !input.scopes!.includes(s));
      if (removed.length > 0) await this.onScopesRemoved(clientId, removed);
    }
    if (changes.webhook_url !== undefined && changes.webhook_url !== before.webhookUrl) {
      await this.audit?.record({ type: 'client.webhook_changed', userId, clientId, detail: { from: before.webhookUrl ?? '', to: changes.webhook_url ?? '' } }, origin);
    }
    const after = await this.get(userId, clientId);
    return webhookSecret ? { ...after, webhookSecret } : after;
  }

  /** SPEC §13: a new webhook secret, shown once; the old one stops signing at once. */
  async rotateWebhookSecret(userId: string, clientId: string, origin?: RequestOrigin): Promise<{ clientId: string; webhookSecret: string }> {
    const row = await this.owned(userId, clientId);
    if (row.webhook_url === null) throw new AppError('invalid_request', 'This client has no webhookUrl: set one first (its secret comes with it).', 'webhookUrl');
    const webhookSecret = newWebhookSecret();
    if (!(await this.repo.updateOwned(userId, clientId, { webhook_secret: this.sealSecret(clientId, webhookSecret), updated_at: this.now() }))) throw notFound('client');
    await this.audit?.record({ type: 'client.webhook_secret_rotated', userId, clientId, detail: { name: row.name } }, origin);
    return { clientId, webhookSecret };
  }

  /** Where the client's events go, read fresh for each delivery (events/worker.ts); null when the client is gone. */
  async eventTarget(clientId: string): Promise<EventTarget | null> {
    const row = await this.repo.findById(clientId);
    if (!row) return null;
    return {
      webhookUrl: row.webhook_url,
      webhookSecret: row.webhook_secret === null || !this.webhooks ? null : openWebhookSecret(this.webhooks, clientId, row.webhook_secret),
      backchannelLogoutUri: row.backchannel_logout_uri,
      idTokenSigningAlg: row.id_token_signing_alg,
      suspended: row.suspended_at !== null,
    };
  }

  private async targetUrl(field: 'webhookUrl' | 'backchannelLogoutUri', value: string | null | undefined): Promise<string | null | undefined> {
    if (value === undefined || value === null) return value;
    if (!this.webhooks) throw invalidValue(field, `${field} cannot be set on this server.`);
    return checkTargetUrl(this.webhooks, field, value);
  }

  private sealSecret(clientId: string, secret: string): string {
    if (!this.webhooks) throw new Error('webhook settings are missing');
    return sealWebhookSecret(this.webhooks, clientId, secret);
  }

  /** The old secret stops working at once: only the new hash is stored (SPEC §3, CM-03). */
  async resetSecret(userId: string, clientId: string, origin?: RequestOrigin): Promise<{ clientId: string; clientSecret: string }> {
    const row = await this.owned(userId, clientId);
    if (row.is_public === 1) {
      throw new AppError('public_client', 'Public clients have no secret to reset; they authenticate with PKCE alone.');
    }
    const secret = randomSecret(PREFIX.clientSecret);
    const changed = await this.repo.updateOwned(userId, clientId, { secret_hash: sha256Hex(secret), updated_at: this.now() });
    if (!changed) throw notFound('client');
    await this.audit?.record({ type: 'client.secret_reset', userId, clientId, detail: { name: row.name } }, origin);
    return { clientId, clientSecret: secret };
  }

  async delete(userId: string, clientId: string, origin?: RequestOrigin): Promise<void> {
    // Read first: the event names the client, which the Activity page can no longer look up.
    const row = await this.owned(userId, clientId);
    if (!(await this.repo.deleteOwned(userId, clientId))) throw notFound('client');
    await this.audit?.record({ type: 'client.deleted', userId, clientId, detail: { name: row.name } }, origin);
  }

  /** client.redirect_uris_changed when an update changed one of the lists (stored: JSON, or null for none). */
  private async recordUrisChange(
    userId: string,
    before: Client,
    list: 'redirectUris' | 'postLogoutRedirectUris',
    stored: string | null | undefined,
    origin: RequestOrigin | undefined,
  ): Promise<void> {
    if (stored === undefined) return;
    const old = before[list];
    const now = stored === null ? [] : (JSON.parse(stored) as string[]);
    const added = now.filter((uri) => !old.includes(uri));
    const removed = old.filter((uri) => !now.includes(uri));
    if (added.length === 0 && removed.length === 0) return;
    await this.audit?.record(
      { type: 'client.redirect_uris_changed', userId, clientId: before.clientId, detail: { list, from: old.length, to: now.length, added: added.join(' '), removed: removed.join(' ') } },
      origin,
    );
  }

  private async owned(userId: string, clientId: string): Promise<ClientRow> {
    const row = await this.repo.findOwned(userId, clientId);
    if (!row) throw notFound('client');
    return row;
  }
}
