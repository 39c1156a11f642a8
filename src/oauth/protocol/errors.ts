import { CodedError } from '../../errors.js';

/**
 * One error value per RFC 6749 error code (§4.1.2.1, §5.2), each knowing its
 * HTTP status. The endpoint decides the wire format: JSON at the token,
 * revocation and introspection endpoints, a redirect or an HTML page at the
 * authorization endpoint.
 */
const OAUTH_ERRORS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_token_type: 400,
  invalid_scope: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  request_not_supported: 400,
  request_uri_not_supported: 400,
  // OpenID Connect Core 1.0 incorporating errata set 2, §3.1.2.6: acr_values asked for what the user cannot do
  unmet_authentication_requirements: 400,
  // RFC 8628 §3.5
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
  // RFC 9396 §5
  invalid_authorization_details: 400,
  // RFC 8707 §2
  invalid_target: 400,
  // RFC 7591 §3.2.2
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  server_error: 500,
  temporarily_unavailable: 503,
} as const;

export type OAuthErrorCode = keyof typeof OAUTH_ERRORS;

/** RFC 6749 §5.2: error_description is limited to printable ASCII except `"` and `\`. */
export function safeDescription(text: string): string {
  return text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 500);
}

export class OAuthError extends CodedError {
  readonly status: number;
  /** Set when the response must carry a challenge (invalid_client after Basic). */
  wwwAuthenticate?: string;

  constructor(
    readonly code: OAuthErrorCode,
    description: string,
    /** retryAfter: seconds, for a Retry-After header (a throttled request). */
    options: { status?: number; retryAfter?: number } = {},
  ) {
    super(safeDescription(description), options.retryAfter);
    this.name = 'OAuthError';
    this.status = options.status ?? OAUTH_ERRORS[code];
  }
}

export const invalidRequest = (d: string) => new OAuthError('invalid_request', d);
export const invalidGrant = (d: string) => new OAuthError('invalid_grant', d);
