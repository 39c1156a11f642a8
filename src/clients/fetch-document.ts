import { Agent, request } from 'undici';
import { AddressRefused, guardedLookup, literalAddress, mayConnectTo, type Reach } from '../security/public-address.js';

export interface FetchLimits {
  allowPrivate: boolean;
  timeoutMs: number;
  maxBytes: number;
}

export interface FetchedDocument {
  body: unknown;
  /** The Cache-Control header, if any. */
  cacheControl: string | null;
}

/** Why a document could not be had: the message names the URL and the reason, for the log only (the page says one generic text). */
export class DocumentUnavailable extends Error {}

/** The answer went past the size limit. */
export class DocumentTooLarge extends DocumentUnavailable {}

/**
 * GET a JSON document from a URL a stranger named, as
 * draft-ietf-oauth-client-id-metadata-document §6 asks of an authorization
 * server: only to public addresses (checked on the resolved address, which
 * is then the one connected to), no redirects, no cookies or credentials,
 * within the time and size limits.
 */
export class DocumentFetcher {
  private readonly agents = new Map<Reach, Agent>();

  constructor(private readonly limits: FetchLimits) {}

  /** https reaches public addresses (and, with allowPrivate, any); plain http only private ones, and only with allowPrivate. */
  private reachOf(url: URL): Reach {
    if (url.protocol === 'http:') return 'private';
    return this.limits.allowPrivate ? 'any' : 'public';
  }

  private agent(reach: Reach): Agent {
    let agent = this.agents.get(reach);
    if (!agent) {
      agent = new Agent({ connect: { lookup: guardedLookup(reach), timeout: this.limits.timeoutMs }, connections: 16, pipelining: 0 });
      this.agents.set(reach, agent);
    }
    return agent;
  }

  async fetch(url: URL): Promise<FetchedDocument> {
    const { bytes, headers } = await this.fetchBytes(url, 'application/json', 'client ID metadata document fetch');
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new DocumentUnavailable(`${url.href.slice(0, 300)} is not JSON`);
    }
    const cacheControl = headers['cache-control'];
    return { body: parsed, cacheControl: typeof cacheControl === 'string' ? cacheControl : null };
  }

  /** The body of a 200 answer, by the same guard (a client's logo, SPEC §12, is fetched this way too). */
  async fetchBytes(url: URL, accept: string, purpose: string): Promise<{ bytes: Buffer; headers: Record<string, string | string[] | undefined> }> {
    const shown = url.href.slice(0, 300);
    const reach = this.reachOf(url);
    const literal = literalAddress(url.hostname);
    if (literal !== null && !mayConnectTo(literal, reach)) {
      throw new DocumentUnavailable(`${shown} points at ${literal}, which is not ${reach === 'private' ? 'a private' : 'a public'} address`);
    }
    const signal = AbortSignal.timeout(this.limits.timeoutMs);
    let response;
    try {
      response = await request(url, {
        dispatcher: this.agent(reach),
        method: 'GET',
        headers: { accept, 'user-agent': `Serika (${purpose})` },
        signal,
        headersTimeout: this.limits.timeoutMs,
        bodyTimeout: this.limits.timeoutMs,
      });
    } catch (error) {
      throw new DocumentUnavailable(`${shown} could not be fetched: ${reason(error, this.limits.timeoutMs)}`);
    }
    const { statusCode, headers, body } = response;
    // Discarding an unread body must not leave undici's abort error unhandled.
    const discard = () => body.dump({ limit: this.limits.maxBytes }).catch(() => undefined);
    if (statusCode >= 300 && statusCode < 400) {
      await discard();
      throw new DocumentUnavailable(`${shown} answered ${statusCode} (a redirect); it is fetched without following redirects`);
    }
    if (statusCode !== 200) {
      await discard();
      throw new DocumentUnavailable(`${shown} answered HTTP ${statusCode}, not 200`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        // Leaving the loop by a throw closes the stream.
        if (size > this.limits.maxBytes) {
          throw new DocumentTooLarge(`${shown} is larger than ${this.limits.maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof DocumentUnavailable) throw error;
      throw new DocumentUnavailable(`${shown} could not be read: ${reason(error, this.limits.timeoutMs)}`);
    }
    return { bytes: Buffer.concat(chunks), headers };
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
  }
}

function reason(error: unknown, timeoutMs: number): string {
  if (error instanceof AddressRefused) return error.message;
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  if (e.cause instanceof AddressRefused) return e.cause.message;
  if (e.code === 'ENOTFOUND') return 'the host name does not resolve';
  return e.code ?? e.message ?? 'connection failed';
}
