import type { FastifyRequest } from 'fastify';
import { CodedError, statusOf } from '../errors.js';
import { isDatabaseUnavailable } from '../storage/unavailable.js';
import { isClientGone } from './client-gone.js';
import { InvalidBody } from './json-body.js';
import { UNAVAILABLE_RETRY_AFTER } from './retry-after.js';

/** One finding of ajv, as Fastify hands it over when a route's schema refuses a request. */
export interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** A request the client must change before sending again (a 4xx other than 429). */
export interface ClientError {
  kind: 'client_error';
  status: number;
  /** Serika's own error value (AppError, OAuthError): the format that knows its kind renders it as it is. */
  coded: CodedError | null;
  /** The coded error's code, or the framework's (FST_ERR_CTP_BODY_TOO_LARGE, FST_CSRF_INVALID_TOKEN) or our plain errors' (SERIKA_CROSS_SITE). */
  code: string | null;
  /** Words that may be shown: a coded error's, our body parser's (InvalidBody), a SERIKA_ error's. Null for the framework's, which may quote the input. */
  message: string | null;
  /** The body is not JSON (our parser's or the framework's finding). */
  malformedJson: boolean;
  /** ajv's findings when a route's schema refused the request, and which part (body, querystring…) it judged. */
  validation: { errors: AjvError[]; context: string | undefined } | null;
}

/**
 * What an error is, decided once for every format (OpenAI JSON, RFC 6749
 * JSON, RFC 7591 JSON, HTML pages, MCP JSON-RPC), which only render it:
 * - client_gone: nobody is left to answer;
 * - unavailable: the database, or a service Serika needs, cannot serve now (503, SPEC §6);
 * - rate_limited: a limit refused the request (429, RFC 6585 §4);
 * - client_error: the request itself is wrong (4xx);
 * - server_error: a fault of ours (5xx), or a coded 5xx such as an upstream's (SPEC §5).
 * Every kind but client_gone carries the coded error it came from, if any.
 */
export type ErrorClass =
  | { kind: 'client_gone' }
  | { kind: 'unavailable'; retryAfter: number; coded: CodedError | null }
  | { kind: 'rate_limited'; retryAfter: number | null; coded: CodedError | null }
  | ClientError
  | { kind: 'server_error'; status: number; coded: CodedError | null };

/** A limit that knows when it lifts, refusing a request: 429 with Retry-After, in the format of the endpoint. */
export class RateLimited extends Error {
  readonly statusCode = 429;

  constructor(
    /** Seconds until the limit lifts. */
    readonly retryAfter: number,
    message = 'Too many requests; retry later.',
  ) {
    super(message);
    this.name = 'RateLimited';
  }
}

export function classifyError(error: unknown, request: FastifyRequest): ErrorClass {
  if (isClientGone(error, request)) return { kind: 'client_gone' };
  const coded = error instanceof CodedError ? error : null;
  if (!coded && isDatabaseUnavailable(error)) return { kind: 'unavailable', retryAfter: UNAVAILABLE_RETRY_AFTER, coded };
  const status = statusOf(error);
  if (status === 429) {
    const retryAfter = coded?.retryAfter ?? (error instanceof RateLimited ? error.retryAfter : undefined);
    return { kind: 'rate_limited', retryAfter: retryAfter ?? null, coded };
  }
  if (status === 503) return { kind: 'unavailable', retryAfter: UNAVAILABLE_RETRY_AFTER, coded };
  if (status >= 400 && status < 500) return clientError(error, status, coded);
  return { kind: 'server_error', status: coded?.status ?? 500, coded };
}

function clientError(error: unknown, status: number, coded: CodedError | null): ClientError {
  const e = error as { code?: unknown; message?: unknown; validation?: unknown; validationContext?: unknown };
  const code = coded?.code ?? (typeof e.code === 'string' ? e.code : null);
  const ours = coded !== null || error instanceof InvalidBody || code?.startsWith('SERIKA_') === true;
  return {
    kind: 'client_error',
    status,
    coded,
    code,
    message: ours && typeof e.message === 'string' ? e.message : null,
    malformedJson: coded === null && (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError),
    validation: Array.isArray(e.validation)
      ? { errors: e.validation as AjvError[], context: typeof e.validationContext === 'string' ? e.validationContext : undefined }
      : null,
  };
}
