import type { FastifyReply } from 'fastify';
import { AppError } from '../errors.js';
import { redirectUriHost } from '../clients/redirect-uris.js';
import { OAuthError } from '../oauth/protocol/errors.js';
import type { ClientError, ErrorClass } from '../http/error-class.js';
import { errorHandler } from '../http/error-handler.js';
import { setRetryAfter } from '../http/retry-after.js';
import { html, type Html } from './html.js';
import { sendPage, type PageOptions } from './layout.js';

/** The page naming an error (AZ-01, AZ-02). */
export function errorPage(error: string, description: string, extra?: Html): PageOptions {
  return {
    title: 'Error',
    body: html`<div class="card">
  <h1>Something went wrong</h1>
  <p class="error"><strong>${error}</strong>: ${description}</p>
  ${extra ?? ''}
  <p class="muted">If an app sent you here, go back to it and try again.</p>
</div>`,
  };
}

/** An error page: never a redirect. */
export function sendErrorPage(reply: FastifyReply, status: number, error: string, description: string, extra?: Html): FastifyReply {
  return sendPage(reply, status, errorPage(error, description, extra));
}

/**
 * An OAuth error the authorization endpoint may not redirect (RFC 6749
 * §4.1.2.1, RFC 9700 §4.11.2). For an unregistered redirect URI the page
 * shows what was sent, never the registered list, and the usual causes;
 * returnTo, the error response after the user's own decision, is a link the
 * user may follow, never an automatic redirect.
 */
export function sendOAuthErrorPage(reply: FastifyReply, error: OAuthError, sentRedirectUri?: string, returnTo?: string): FastifyReply {
  if (error.retryAfter !== undefined) setRetryAfter(reply, error.retryAfter);
  let extra: Html | undefined;
  if (sentRedirectUri !== undefined) {
    extra = html`<p>The app sent <code class="mono">${sentRedirectUri}</code></p>
  <p class="muted">It must be registered exactly, character for character. The usual causes: <code>localhost</code> against <code>127.0.0.1</code>, a different port (only loopback URIs may change their port), <code>http</code> against <code>https</code>, or a trailing slash.</p>`;
  } else if (returnTo !== undefined) {
    extra = html`<p><a href="${returnTo}">Return to ${redirectUriHost(returnTo)}</a></p>`;
  }
  return sendErrorPage(reply, error.status, error.code, error.message, extra);
}

const FRAMEWORK_STATUS_PAGES: Record<number, [string, string]> = {
  404: ['not_found', 'There is no page here.'],
  405: ['method_not_allowed', 'This page does not accept that method.'],
  413: ['request_too_large', 'The form is too large.'],
  415: ['unsupported_media_type', 'Send the form as application/x-www-form-urlencoded.'],
};

function sendClientErrorPage(reply: FastifyReply, error: ClientError): FastifyReply {
  if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
    return sendErrorPage(reply, 403, 'invalid_csrf_token', 'This form has expired or did not come from this site. Go back, reload the page and try again.');
  }
  if (error.code === 'SERIKA_CROSS_SITE') return sendErrorPage(reply, 403, 'cross_site_request', error.message ?? '');
  if (error.coded instanceof AppError) return sendErrorPage(reply, error.status, error.coded.code, error.coded.message);
  const known = FRAMEWORK_STATUS_PAGES[error.status];
  if (known) return sendErrorPage(reply, error.status, known[0], known[1]);
  return sendErrorPage(reply, error.status, 'invalid_request', 'The request could not be understood.');
}

/** Renders an error as a page naming it, never a stack trace; an OAuthError as it is. */
function renderPageError(error: ErrorClass, reply: FastifyReply): FastifyReply {
  if (error.kind !== 'client_gone' && error.coded instanceof OAuthError) return sendOAuthErrorPage(reply, error.coded);
  switch (error.kind) {
    case 'client_gone':
      return sendErrorPage(reply, 400, 'invalid_request', 'The request was cut off.');
    case 'unavailable':
      return sendErrorPage(reply, 503, 'temporarily_unavailable', 'Serika is briefly unavailable. Please try again in a moment.');
    case 'rate_limited':
      return sendErrorPage(reply, 429, 'too_many_requests', 'Too many attempts from your network. Wait a minute and try again.');
    case 'client_error':
      return sendClientErrorPage(reply, error);
    case 'server_error':
      return sendErrorPage(reply, 500, 'server_error', 'Something went wrong on our side. Please try again.');
  }
}

/** The error handler of every HTML scope, and the one mapper of errors to pages. */
export const sendPageError = errorHandler(renderPageError);
