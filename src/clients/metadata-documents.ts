import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../storage/schema.js';
import { ClientMetadataError, ownerlessClientRow, readClientMetadata } from './client-metadata.js';
import { DocumentFetcher, DocumentUnavailable } from './fetch-document.js';
import { ClientsRepo } from './repo.js';
import type { InvalidationFeed } from '../storage/invalidations.js';
import { hasDotSegment } from '../uri-syntax.js';
import { toRegisteredClient, type RegisteredClient } from './service.js';
import type { ClientLogos } from './logos.js';

/**
 * Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
 * SPEC §8): a client_id that is an https URL with a path names the JSON
 * document describing the client. Fetched documents become ownerless public
 * clients, shared by instances through the database and kept in a bounded
 * in-process cache for as long as their Cache-Control says, between 5
 * minutes and 24 hours; failures are never cached (SPEC §8). A stranger
 * picks the URL, so the fetcher must not become a scanner: fetches are
 * throttled per requesting IP and per document host, concurrent requests
 * for one document share one fetch, and every fetch failure reads the same
 * (the reason goes to the log only).
 */
const DOCUMENT_TIMEOUT_MS = 5000;
const DOCUMENT_MAX_BYTES = 5 * 1024;
const MIN_FRESH_MS = 5 * 60_000;
const MAX_FRESH_MS = 24 * 3_600_000;

/**
 * Fetches per minute: that one IP address may cause, and of documents not
 * yet stored that one host may be asked for. A stored document's refresh is
 * not counted per host, so nobody can keep a host's known apps from
 * refreshing by spending its allowance on made-up URLs.
 */
export const DOCUMENT_FETCH_LIMITS = { perIp: 30, perHost: 20, windowMs: 60_000 } as const;

/** Counters shared by instances (http/rate-limit-store.ts's RateCounter). */
interface FetchCounter {
  hit(key: string, windowMs: number): Promise<{ current: number; ttl: number }>;
}

/** Who asked for a document: the IP its fetches count against, and the log that hears why a fetch failed. */
export interface DocumentRequester {
  ip: string;
  log: { info(details: object, message: string): void };
}

export type DocumentErrorCode = 'invalid_request' | 'invalid_client' | 'temporarily_unavailable';

export class ClientIdDocumentError extends Error {
  constructor(
    readonly code: DocumentErrorCode,
    message: string,
    /** Set when fetches are throttled: 429, retry after this many seconds. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ClientIdDocumentError';
  }
}

/**
 * The one text for every failed fetch (DNS, refused, timeout, a status, too
 * large, a private address, not JSON…): telling them apart would map the
 * network behind the URL for whoever picks it.
 */
function fetchFailedMessage(clientId: string): string {
  return (
    `The client_id metadata document at ${clientId.slice(0, 200)} could not be fetched. Serika fetches it with GET from a public address, ` +
    `without following redirects, and needs a 200 answer holding a JSON object of at most ${DOCUMENT_MAX_BYTES / 1024} KB within ${DOCUMENT_TIMEOUT_MS / 1000} s.`
  );
}

/** Whether a client_id is meant as a metadata document's URL (ours never contain "://"). */
export function isDocumentClientId(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

/** §3 of the draft: https, a path, no fragment, no user info, no dot segments; written as the URL parser writes it. */
export function documentUrlProblem(clientId: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) return 'must be an https URL';
  if (clientId.includes('#')) return 'must not have a fragment';
  if (url.username || url.password) return 'must not contain a user name or password';
  if (hasDotSegment(clientId)) return 'must not contain . or .. path segments';
  if (url.pathname === '/' || url.pathname === '') return 'must have a path';
  if (url.href !== clientId) return `must be written in its normal form (${url.href.slice(0, 200)})`;
  return null;
}

/** How long a document stays fresh: its max-age, within 5 minutes and 24 hours. */
export function freshFor(cacheControl: string | null): number {
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl ?? '');
  const asked = maxAge ? Number(maxAge[1]) * 1000 : 0;
  return Math.min(MAX_FRESH_MS, Math.max(MIN_FRESH_MS, asked));
}

export interface MetadataDocumentsOptions {
  allowPrivate: boolean;
  now?: () => number;
  cacheSize?: number;
  timeoutMs?: number;
  /** A document fetched again changes its client row: other processes' client caches hear of it. */
  feed?: InvalidationFeed | null;
  /** Counts fetches for DOCUMENT_FETCH_LIMITS; null: unthrottled. */
  counter?: FetchCounter | null;
  /**
   * The client as stored now, through the clients' feed-exact cache: the operator's verification or
   * suspension (SPEC §12) changes the row, never the document, so a fresh document's client is read here.
   */
  current?: (clientId: string) => Promise<RegisteredClient | undefined>;
  /** Fetches a document's logo_uri when it is new or changed (SPEC §12); null: logos are not fetched. */
  logos?: ClientLogos | null;
}

export class MetadataDocuments {
  private readonly repo: ClientsRepo;
  private readonly fetcher: DocumentFetcher;
  private readonly cache: LRUCache<string, { client: RegisteredClient; freshUntil: number }>;
  private readonly inFlight = new Map<string, Promise<RegisteredClient>>();
  private readonly now: () => number;

  constructor(
    db: Kysely<Database>,
    private readonly options: MetadataDocumentsOptions,
  ) {
    this.repo = new ClientsRepo(db, options.feed ?? null);
    this.now = options.now ?? Date.now;
    this.fetcher = new DocumentFetcher({ allowPrivate: options.allowPrivate, timeoutMs: options.timeoutMs ?? DOCUMENT_TIMEOUT_MS, maxBytes: DOCUMENT_MAX_BYTES });
    this.cache = new LRUCache({ max: options.cacheSize ?? 1000 });
  }

  /** The client a document URL names, fetched when no fresh copy is held; throws ClientIdDocumentError. */
  async resolve(clientId: string, requester: DocumentRequester): Promise<RegisteredClient> {
    const problem = documentUrlProblem(clientId, this.options.allowPrivate);
    if (problem) throw new ClientIdDocumentError('invalid_request', `client_id ${clientId.slice(0, 200)} ${problem} to be a client ID metadata document URL.`);
    const now = this.now();
    const cached = this.cache.get(clientId);
    if (cached && cached.freshUntil > now) return (await this.options.current?.(clientId)) ?? cached.client;
    const row = await this.repo.findById(clientId);
    if (row && row.kind === 'metadata_document' && (row.metadata_expires_at ?? 0) > now) {
      const client = toRegisteredClient(row);
      this.cache.set(clientId, { client, freshUntil: row.metadata_expires_at! });
      return client;
    }
    // Concurrent requests for one document share one fetch, counted once, against the first asker.
    let pending = this.inFlight.get(clientId);
    if (!pending) {
      pending = this.throttled(clientId, requester, row?.kind === 'metadata_document')
        .then(() => this.fetchAndStore(clientId, requester))
        .finally(() => this.inFlight.delete(clientId));
      this.inFlight.set(clientId, pending);
    }
    return pending;
  }

  /** Refuses a fetch past DOCUMENT_FETCH_LIMITS: per requesting IP, and per host for documents not stored yet. */
  private async throttled(clientId: string, requester: DocumentRequester, stored: boolean): Promise<void> {
    const counter = this.options.counter;
    if (!counter) return;
    const { perIp, perHost, windowMs } = DOCUMENT_FETCH_LIMITS;
    const checks: Array<[string, number]> = [[`cimd:ip:${requester.ip}`, perIp]];
    if (!stored) checks.push([`cimd:host:${new URL(clientId).hostname}`, perHost]);
    for (const [key, max] of checks) {
      const window = await counter.hit(key, windowMs);
      if (window.current > max) {
        const seconds = Math.max(1, Math.ceil(window.ttl / 1000));
        requester.log.info({ clientId: clientId.slice(0, 200), limit: key.split(':')[1], max }, 'client ID metadata document fetch throttled');
        throw new ClientIdDocumentError(
          'temporarily_unavailable',
          `Too many client ID metadata documents are being fetched for your network or from this document's host; try again in ${seconds} s.`,
          seconds,
        );
      }
    }
  }

  private async fetchAndStore(clientId: string, requester: DocumentRequester): Promise<RegisteredClient> {
    const where = `client_id document at ${clientId.slice(0, 200)}`;
    let fields: Record<string, unknown>;
    let cacheControl: string | null;
    try {
      const fetched = await this.fetcher.fetch(new URL(clientId));
      if (typeof fetched.body !== 'object' || fetched.body === null || Array.isArray(fetched.body)) throw new DocumentUnavailable('the answer is not a JSON object');
      fields = fetched.body as Record<string, unknown>;
      cacheControl = fetched.cacheControl;
    } catch (error) {
      if (!(error instanceof DocumentUnavailable)) throw error;
      requester.log.info({ clientId: clientId.slice(0, 200), reason: error.message }, 'client ID metadata document could not be fetched');
      throw new ClientIdDocumentError('invalid_client', fetchFailedMessage(clientId));
    }
    if (fields.client_id !== clientId) {
      throw new ClientIdDocumentError('invalid_client', `The ${where} names client_id ${JSON.stringify(fields.client_id ?? '(none)').slice(0, 200)}, not its own URL.`);
    }
    if ('client_secret' in fields) throw new ClientIdDocumentError('invalid_client', `The ${where} contains a client_secret; metadata documents are public.`);
    if (typeof fields.client_name !== 'string') throw new ClientIdDocumentError('invalid_client', `The ${where} has no client_name.`);
    if (fields.redirect_uris === undefined) throw new ClientIdDocumentError('invalid_client', `The ${where} has no redirect_uris.`);
    const method = fields.token_endpoint_auth_method ?? 'none';
    if (method !== 'none') {
      throw new ClientIdDocumentError('invalid_client', `The ${where} asks for token_endpoint_auth_method ${(typeof method === 'string' ? method : JSON.stringify(method)).slice(0, 60)}; Serika accepts only none for metadata documents.`);
    }
    let metadata;
    try {
      metadata = readClientMetadata({ ...fields, token_endpoint_auth_method: 'none' }, this.options.allowPrivate);
    } catch (error) {
      if (error instanceof ClientMetadataError) throw new ClientIdDocumentError('invalid_client', `The ${where} is not valid: ${error.message}`);
      throw error;
    }
    const now = this.now();
    const freshUntil = now + freshFor(cacheControl);
    const row = ownerlessClientRow(
      metadata,
      {
        id: clientId,
        name: metadata.name!,
        kind: 'metadata_document',
        is_public: 1,
        secret_hash: null,
        metadata: JSON.stringify(metadata.informational),
        metadata_expires_at: freshUntil,
      },
      now,
    );
    const before = await this.repo.findById(clientId);
    await this.repo.upsertDocument(row);
    await this.options.logos?.follow(clientId, before, row.logo_uri, requester.log);
    // Read back: the operator's verification or suspension and the logo are not the document's to set.
    const client = toRegisteredClient((await this.repo.findById(clientId)) ?? row);
    this.cache.set(clientId, { client, freshUntil });
    return client;
  }

  async close(): Promise<void> {
    await this.fetcher.close();
  }
}
