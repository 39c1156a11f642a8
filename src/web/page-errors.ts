import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, statusOf } from '../errors.js';
import { redirectUriHost } from '../clients/redirect-uris.js';
import { OAuthError } from '../oauth/protocol/errors.js';
import { isClientGone } from '../http/client-gone.js';
import { isDatabaseUnavailable } from '../storage/unavailable.js';
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
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
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

/** The error handler of every HTML scope, and the one mapper of errors to pages: a page naming the error, never a stack trace. */
export function sendPageError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof OAuthError) return sendOAuthErrorPage(reply, error);
  const e = error as FastifyError;
  const status = statusOf(error);
  if (e?.code === 'FST_CSRF_INVALID_TOKEN' || e?.code === 'FST_CSRF_MISSING_SECRET') {
    return sendErrorPage(reply, 403, 'invalid_csrf_token', 'This form has expired or did not come from this site. Go back, reload the page and try again.');
  }
  if (e?.code === 'SERIKA_CROSS_SITE') return sendErrorPage(reply, 403, 'cross_site_request', e.message);
  if (status === 429) {
    return sendErrorPage(reply, 429, 'too_many_requests', 'Too many attempts from your network. Wait a minute and try again.');
  }
  if (isClientGone(error, request)) {
    request.log.info('client closed the connection before its request was read');
    return sendErrorPage(reply, 400, 'invalid_request', 'The request was cut off.');
  }
  if (isDatabaseUnavailable(error)) {
    request.log.warn({ err: error }, 'page refused: database unavailable');
    return sendErrorPage(reply.header('retry-after', '5'), 503, 'temporarily_unavailable', 'Serika is briefly unavailable. Please try again in a moment.');
  }
  if (error instanceof AppError && status < 500) return sendErrorPage(reply, status, error.code, error.message);
  const known = FRAMEWORK_STATUS_PAGES[status];
  if (known) return sendErrorPage(reply, status, known[0], known[1]);
  if (status >= 400 && status < 500) return sendErrorPage(reply, status, 'invalid_request', 'The request could not be understood.');
  request.log.error({ err: error }, 'page failed');
  return sendErrorPage(reply, 500, 'server_error', 'Something went wrong on our side. Please try again.');
}
