import { randomUUID } from 'node:crypto';
import { stdTimeFunctions, type LoggerOptions } from 'pino';
import type { IncomingMessage } from 'node:http';
import type { LogLevel } from '../config.js';

const REDACTED = '[REDACTED]';

/**
 * Query parameters whose values are credentials or one-time codes (SPEC §4:
 * never in a log). Matched by name, case-insensitively, anywhere in the key.
 */
const SENSITIVE_PARAM = /token|secret|password|code|key|verifier|assertion|session|state|credential|auth/i;

/** The URL as logged: path kept, sensitive query values replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const path = url.slice(0, q);
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        return `${pair.slice(0, eq)}=${REDACTED}`;
      }
      if (SENSITIVE_PARAM.test(name)) return `${pair.slice(0, eq)}=${REDACTED}`;
      // A URL inside a parameter (`/login?return_to=/…/authorize?state=…`) is redacted the same way.
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
      } catch {
        return `${pair.slice(0, eq)}=${REDACTED}`;
      }
      return value.includes('?') ? `${pair.slice(0, eq)}=${encodeURIComponent(redactUrl(value))}` : pair;
    })
    .join('&');
  return `${path}?${query}`;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Honour a sane X-Request-Id from a proxy, otherwise mint one. */
export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Fields censored one level down in whatever is logged: `{ body: { password } }` logs `[REDACTED]`. */
const CENSORED_FIELDS = new Set(['password', 'client_secret', 'clientSecret', 'access_token', 'refresh_token', 'id_token', 'id_token_hint', 'private_jwk', 'code_verifier']);

/**
 * The object with every censored field of its object values replaced (as pino's `*.field` paths would), copied
 * only where something is censored: the caller's objects are never changed.
 */
export function censorFields<T extends Record<string, unknown>>(object: T): T {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) continue;
    let censored: Record<string, unknown> | undefined;
    for (const field of Object.keys(value)) if (CENSORED_FIELDS.has(field)) (censored ??= { ...value })[field] = REDACTED;
    if (censored) (out ??= { ...object })[key] = censored;
  }
  return (out ?? object) as T;
}

/**
 * pino options: JSON lines with the request id (`reqId`) on every line of a
 * request. Bodies are never logged; headers that carry credentials are
 * censored should anything log them.
 */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    // ISO-8601 times ("time":"2026-11-29T20:30:00.000Z"), readable without converting epoch milliseconds.
    timestamp: stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["proxy-authorization"]',
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
        'headers.authorization',
        'headers.cookie',
      ],
      censor: REDACTED,
    },
    // pino's own `*.password` paths would do what censorFields does, but pino runs a wildcard path over every binding
    // of every child logger, and Fastify makes a child per request (bench/NOTES.md). Bindings are only ever ids here
    // (Fastify's reqId, identify()'s ids).
    formatters: { log: censorFields },
    serializers: {
      req(request: { method: string; url: string; hostname?: string; ip?: string; socket?: { remotePort?: number } }) {
        return {
          method: request.method,
          url: redactUrl(request.url),
          host: request.hostname,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
        };
      },
    },
  };
}
