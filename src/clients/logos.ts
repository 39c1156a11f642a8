import type { Kysely } from 'kysely';
import type { InvalidationFeed } from '../storage/invalidations.js';
import type { Database } from '../storage/schema.js';
import { DocumentFetcher, DocumentTooLarge, DocumentUnavailable } from './fetch-document.js';

/** SPEC §12: at most 100 KB, fetched within the metadata documents' 5 s. */
export const LOGO_MAX_BYTES = 100 * 1024;
const LOGO_TIMEOUT_MS = 5000;

/** Why no logo was stored: not a PNG, JPEG or WebP, too large, or not to be had (every network failure reads alike: it maps no network). */
export type LogoProblem = 'not_an_image' | 'too_large' | 'unavailable';

export interface StoredLogo {
  contentType: string;
  bytes: Buffer;
}

/** The image type its first bytes say, whatever the server claimed; null for anything else (SVG too: it can carry script). */
export function sniffImage(bytes: Buffer): 'image/png' | 'image/jpeg' | 'image/webp' | null {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

interface LogoLog {
  info(details: object, message: string): void;
}

/** What a client row says of its logo. */
export interface LogoColumns {
  logo_uri: string | null;
  logo_fetched_at: number | null;
}

/**
 * Client logos (SPEC §12): fetched once, when a client's logo_uri is set or
 * changed, through the metadata documents' guard (public addresses only
 * unless CIMD_ALLOW_PRIVATE, the resolved address connected to, no
 * redirects, a size limit), kept in the database, and served from Serika's
 * own origin, so no page ever loads a third party's content.
 */
export class ClientLogos {
  private readonly fetcher: DocumentFetcher;

  constructor(
    private readonly db: Kysely<Database>,
    allowPrivate: boolean,
    private readonly feed: InvalidationFeed | null = null,
    private readonly now: () => number = Date.now,
    timeoutMs = LOGO_TIMEOUT_MS,
  ) {
    this.fetcher = new DocumentFetcher({ allowPrivate, timeoutMs, maxBytes: LOGO_MAX_BYTES });
  }

  /**
   * Brings the stored logo in line with the client's logo_uri, after the row
   * was written: fetched when it changed from `before` (or was never
   * fetched), removed when there is none. A failed fetch stores its reason
   * (the client then has no logo) and never throws, so the change that set
   * the URI still succeeds; the reason goes to the client object and the log.
   */
  async follow(clientId: string, before: LogoColumns | undefined, logoUri: string | null, log?: LogoLog): Promise<void> {
    if (before && before.logo_uri === logoUri && (logoUri === null || before.logo_fetched_at !== null)) return;
    const fetched = logoUri === null ? null : await this.fetch(logoUri, log);
    const now = this.now();
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('client_logos').where('client_id', '=', clientId).execute();
      if (fetched && !('problem' in fetched)) await trx.insertInto('client_logos').values({ client_id: clientId, content_type: fetched.contentType, bytes: fetched.bytes, fetched_at: now }).execute();
      await trx
        .updateTable('oauth_clients')
        .set({ logo_fetched_at: fetched === null ? null : now, logo_problem: fetched && 'problem' in fetched ? fetched.problem : null })
        .where('id', '=', clientId)
        .where('logo_uri', 'is not distinct from', logoUri)
        .execute();
      // The pages read clients through the cache: they must see the new logo.
      await this.feed?.record(trx, [{ kind: 'client', key: clientId }]);
    });
  }

  private async fetch(logoUri: string, log?: LogoLog): Promise<StoredLogo | { problem: LogoProblem }> {
    try {
      const { bytes } = await this.fetcher.fetchBytes(new URL(logoUri), 'image/png, image/jpeg, image/webp', 'client logo fetch');
      const contentType = sniffImage(bytes);
      if (contentType === null) {
        log?.info({ logoUri: logoUri.slice(0, 300) }, 'client logo refused: not a PNG, JPEG or WebP');
        return { problem: 'not_an_image' };
      }
      return { contentType, bytes };
    } catch (error) {
      if (!(error instanceof DocumentUnavailable)) throw error;
      log?.info({ logoUri: logoUri.slice(0, 300), reason: error.message }, 'client logo could not be fetched');
      return { problem: error instanceof DocumentTooLarge ? 'too_large' : 'unavailable' };
    }
  }

  /** The stored image, or undefined when the client has none. */
  async get(clientId: string): Promise<StoredLogo | undefined> {
    const row = await this.db.selectFrom('client_logos').select(['content_type', 'bytes']).where('client_id', '=', clientId).executeTakeFirst();
    return row && { contentType: row.content_type, bytes: Buffer.from(row.bytes) };
  }

  async close(): Promise<void> {
    await this.fetcher.close();
  }
}
