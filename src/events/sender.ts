import { Agent, request } from 'undici';
import { AddressRefused, guardedLookup, literalAddress, mayConnectTo, type Reach } from '../security/public-address.js';
import { targetReach } from '../security/target-url.js';

export interface SendResult {
  /** The answer's status, or null when none came (refused, unreachable, timed out). */
  statusCode: number | null;
  /** Why it does not count as delivered, or null when it does (2xx). */
  error: string | null;
  durationMs: number;
}

/** SPEC §13: a 2xx within 10 s is delivered; no answer by then is a failed try. */
export const DELIVERY_TIMEOUT_MS = 10_000;

/** Keep-alive connections per reach: enough for the worker's parallel tries to one receiver. */
const CONNECTIONS = 32;

/**
 * POSTs an event to the address an app gave (SPEC §13): only to the
 * addresses metadata documents may be fetched from (the same guarded lookup:
 * the resolved address, checked, is the one connected to, so a rebinding
 * DNS answer never gets a say), no redirects (a 3xx is a failure), no
 * cookies, and an answer within the timeout or the try failed.
 */
export class EventSender {
  private readonly agents = new Map<Reach, Agent>();
  private readonly options: { allowPrivate: boolean; timeoutMs: number };

  /** timeoutMs: SPEC §13's 10 s unless a test shortens it. */
  constructor(options: { allowPrivate: boolean; timeoutMs?: number }) {
    this.options = { timeoutMs: DELIVERY_TIMEOUT_MS, ...options };
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  private agent(reach: Reach): Agent {
    let agent = this.agents.get(reach);
    if (!agent) {
      agent = new Agent({ connect: { lookup: guardedLookup(reach), timeout: this.options.timeoutMs }, connections: CONNECTIONS, pipelining: 1 });
      this.agents.set(reach, agent);
    }
    return agent;
  }

  async post(target: string, headers: Record<string, string>, body: string): Promise<SendResult> {
    const started = performance.now();
    const done = (statusCode: number | null, error: string | null): SendResult => ({ statusCode, error, durationMs: performance.now() - started });
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return done(null, 'the URL is not valid');
    }
    // Checked again at each delivery (SPEC §13): the rule may have changed (WEBHOOKS_ALLOW_PRIVATE turned off) since it was set.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.options.allowPrivate)) return done(null, `${url.protocol} URLs are not allowed`);
    const reach = targetReach(url, this.options.allowPrivate);
    const literal = literalAddress(url.hostname);
    if (literal !== null && !mayConnectTo(literal, reach)) return done(null, `${literal} is not ${reach === 'private' ? 'a private' : 'a public'} address`);
    try {
      const response = await request(url, {
        dispatcher: this.agent(reach),
        method: 'POST',
        headers: { ...headers, 'user-agent': 'Serika-Webhooks' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      // The answer's body is not read: only its status counts. Discarded so the connection is reused.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const status = response.statusCode;
      if (status >= 200 && status < 300) return done(status, null);
      if (status >= 300 && status < 400) return done(status, `answered ${status} (a redirect); redirects are not followed`);
      return done(status, `answered HTTP ${status}`);
    } catch (error) {
      return done(null, reason(error, this.options.timeoutMs));
    }
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }
}

function reason(error: unknown, timeoutMs: number): string {
  if (error instanceof AddressRefused) return error.message;
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.cause instanceof AddressRefused) return e.cause.message;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  if (e.code === 'ENOTFOUND') return 'the host name does not resolve';
  return e.code ?? e.message ?? 'connection failed';
}
