import type { FastifyReply } from 'fastify';
import type { SessionUser } from '../accounts/sessions.js';
import { WEBAUTHN_BROWSER_ASSET } from './assets.js';
import { html, type Html } from './html.js';

export interface PageOptions {
  title: string;
  body: Html;
  user?: SessionUser | null;
  /** Needed for the "Sign out" form on signed-in pages. */
  csrf?: string;
  wide?: boolean;
  /** Images from Serika's own origin only (the consent and device pages, which show a third party's logo: SPEC §12). */
  ownImagesOnly?: boolean;
  /** False on a page whose own form signs out (end-session): one "Sign out" button, the one that keeps the app's return. */
  signOutButton?: boolean;
  /** A page with passkey forms: loads the WebAuthn browser library and the script that drives them (assets.ts). */
  passkeys?: boolean;
}

/** SPEC §6 / UI-02, UI-03: pages never render in frames and never leak the URL to other sites. */
export const PAGE_HEADERS = {
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

export function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply.headers(PAGE_HEADERS);
}

export function layout(options: PageOptions): string {
  const { user, csrf } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Serika</title>
<link rel="stylesheet" href="/assets/serika.css">
<script src="/assets/serika.js" defer></script>
${options.passkeys ? html`<script src="${WEBAUTHN_BROWSER_ASSET}" defer></script>
<script src="/assets/passkeys.js" defer></script>
` : ''}</head>
<body>
<header class="top">
  <a class="brand" href="/dashboard">Serika</a>
  ${
    user && options.signOutButton === false
      ? html`<span class="muted">Signed in as <strong>${user.username}</strong></span>`
      : user
      ? html`<form method="post" action="/logout">
    <span class="muted">Signed in as <strong>${user.username}</strong></span>
    <input type="hidden" name="_csrf" value="${csrf ?? ''}">
    <button type="submit" class="secondary">Sign out</button>
  </form>`
      : ''
  }
</header>
<main${options.wide ? html` class="wide"` : ''}>
${options.body}
</main>
</body>
</html>
`.value;
}

/** The pages that show what an app says of itself load no image from elsewhere: its logo is served by Serika (SPEC §12). */
const OWN_IMAGES_CSP = PAGE_HEADERS['content-security-policy'].replace("img-src 'self' https: http: data:", "img-src 'self'");

export function sendPage(reply: FastifyReply, status: number, options: PageOptions): FastifyReply {
  pageHeaders(reply);
  if (options.ownImagesOnly) reply.header('content-security-policy', OWN_IMAGES_CSP);
  return reply.code(status).type('text/html; charset=utf-8').send(layout(options));
}
