import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../storage/schema.js';
import { ClientMetadataError, ownerlessClientRow, readClientMetadata } from './client-metadata.js';
import { DocumentFetcher, DocumentUnavailable } from './fetch-document.js';
import { ClientsRepo } from './repo.js';
import type { InvalidationFeed } from '../storage/invalidations.js';
import { toRegisteredClient, type RegisteredClient } from './service.js';

/**
 * Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
 * SPEC §8): a client_id that is an https URL with a path names the JSON
 * document describing the client. Fetched documents become ownerless public
 * clients, shared by instances through the database and kept in a bounded
 * in-process cache for as long as their Cache-Control says, between 5
 * minutes and 24 hours; failures are never cached.
 */
export const DOCUMENT_TIMEOUT_MS = 5000;
export const DOCUMENT_MAX_BYTES = 5 * 1024;
const MIN_FRESH_MS = 5 * 60_000;
const MAX_FRESH_MS = 24 * 3_600_000;

export type DocumentErrorCode = 'invalid_request' | 'invalid_client';

export class ClientIdDocumentError extends Error {
  constructor(
    readonly code: DocumentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClientIdDocumentError';
  }
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
  const rawPath = clientId.replace(/^[a-z]+:\/\/[^/?]*/i, '').split('?')[0] ?? '';
  if (rawPath.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment))) return 'must not contain . or .. path segments';
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
  async resolve(clientId: string): Promise<RegisteredClient> {
    const problem = documentUrlProblem(clientId, this.options.allowPrivate);
    if (problem) throw new ClientIdDocumentError('invalid_request', `client_id ${clientId.slice(0, 200)} ${problem} to be a client ID metadata document URL.`);
    const now = this.now();
    const cached = this.cache.get(clientId);
    if (cached && cached.freshUntil > now) return cached.client;
    const row = await this.repo.findById(clientId);
    if (row && row.kind === 'metadata_document' && (row.metadata_expires_at ?? 0) > now) {
      const client = toRegisteredClient(row);
      this.cache.set(clientId, { client, freshUntil: row.metadata_expires_at! });
      return client;
    }
    // Concurrent requests for one document share one fetch.
    let pending = this.inFlight.get(clientId);
    if (!pending) {
      pending = this.fetchAndStore(clientId).finally(() => this.inFlight.delete(clientId));
      this.inFlight.set(clientId, pending);
    }
    return pending;
  }

  private async fetchAndStore(clientId: string): Promise<RegisteredClient> {
    const where = `client_id document at ${clientId.slice(0, 200)}`;
    let fetched;
    try {
      fetched = await this.fetcher.fetch(new URL(clientId));
    } catch (error) {
      if (error instanceof DocumentUnavailable) throw new ClientIdDocumentError('invalid_client', `The ${where} could not be used: ${error.message}.`);
      throw error;
    }
    const document = fetched.body;
    if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new ClientIdDocumentError('invalid_client', `The ${where} is not a JSON object.`);
    const fields = document as Record<string, unknown>;
    if (fields.client_id !== clientId) {
      throw new ClientIdDocumentError('invalid_client', `The ${where} names client_id ${JSON.stringify(String(fields.client_id ?? '(none)')).slice(0, 200)}, not its own URL.`);
    }
    if ('client_secret' in fields) throw new ClientIdDocumentError('invalid_client', `The ${where} contains a client_secret; metadata documents are public.`);
    if (typeof fields.client_name !== 'string') throw new ClientIdDocumentError('invalid_client', `The ${where} has no client_name.`);
    if (fields.redirect_uris === undefined) throw new ClientIdDocumentError('invalid_client', `The ${where} has no redirect_uris.`);
    const method = fields.token_endpoint_auth_method ?? 'none';
    if (method !== 'none') {
      throw new ClientIdDocumentError('invalid_client', `The ${where} asks for token_endpoint_auth_method ${String(method).slice(0, 60)}; Serika accepts only none for metadata documents.`);
    }
    let metadata;
    try {
      metadata = readClientMetadata({ ...fields, token_endpoint_auth_method: 'none' });
    } catch (error) {
      if (error instanceof ClientMetadataError) throw new ClientIdDocumentError('invalid_client', `The ${where} is not valid: ${error.message}`);
      throw error;
    }
    const now = this.now();
    const freshUntil = now + freshFor(fetched.cacheControl);
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
    await this.repo.upsertDocument(row);
    const client = toRegisteredClient(row);
    this.cache.set(clientId, { client, freshUntil });
    return client;
  }

  async close(): Promise<void> {
    await this.fetcher.close();
  }
}
