/**
 * Errors are values with a code. Each code knows its HTTP status and its
 * OpenAI-style `type`; what an error is (client error, rate limited,
 * unavailable…) is decided once (http/error-class.ts) and the endpoint's
 * format renders it (http/openai-errors.ts for the API), never the thrower.
 */
const ERROR_CODES = {
  invalid_value: { status: 400, type: 'invalid_request_error' },
  invalid_type: { status: 400, type: 'invalid_request_error' },
  missing_required_parameter: { status: 400, type: 'invalid_request_error' },
  unknown_parameter: { status: 400, type: 'invalid_request_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  public_client: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'invalid_request_error' },
  invalid_token: { status: 401, type: 'invalid_request_error' },
  insufficient_scope: { status: 403, type: 'invalid_request_error' },
  // SPEC §12: an API key that is not an admin's, at the admin API.
  permission_denied: { status: 403, type: 'invalid_request_error' },
  // SPEC §12: a suspended user's sign-in.
  account_suspended: { status: 403, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'invalid_request_error' },
  forbidden_origin: { status: 403, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  username_taken: { status: 409, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  // SPEC §10: the user's budget for the app is spent.
  app_budget_exceeded: { status: 429, type: 'insufficient_quota' },
  server_error: { status: 500, type: 'server_error' },
  upstream_error: { status: 502, type: 'api_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
  upstream_not_configured: { status: 503, type: 'server_error' },
  service_unavailable: { status: 503, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Serika's own error values (AppError here, OAuthError for RFC 6749 codes):
 * a code and the HTTP status it asks for, and how long to wait when a limit
 * knows when it lifts. The base lets http/ classify them without knowing
 * each domain's codes.
 */
export abstract class CodedError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** Seconds until a limit lifts, for Retry-After (a throttled request). */
  readonly retryAfter?: number;

  constructor(message: string, retryAfter?: number) {
    super(message);
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

export class AppError extends CodedError {
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    /** Only where the framework chose a status the code does not name (a 414 as invalid_request). */
    status?: number,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = status ?? ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
  }
}

/** The HTTP status an error asks for: a coded error's own, a framework error's statusCode, else 500. */
export function statusOf(error: unknown): number {
  if (error instanceof CodedError) return error.status;
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
}

export const notFound = (what: string) => new AppError('not_found', `No such ${what}.`);
export const invalidValue = (param: string, message: string) => new AppError('invalid_value', message, param);
