import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../../accounts/sessions.js';
import { DASHBOARD, PATHS } from '../../paths.js';
import { html, type Html } from '../html.js';
import { sendPage } from '../layout.js';
import type { PageSessions } from '../session.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The pages' session cookies and CSRF binding (web/session.ts). */
    pageSessions: PageSessions;
  }
  interface FastifyRequest {
    /** Set on dashboard routes: the signed-in user. */
    sessionUser: SessionUser | null;
  }
}

const SECTIONS = [
  [DASHBOARD.overview, 'Overview'],
  [DASHBOARD.keys, 'API keys'],
  [DASHBOARD.clients, 'OAuth clients'],
  [DASHBOARD.apps, 'Connected apps'],
  [DASHBOARD.characters, 'Characters'],
  [DASHBOARD.usage, 'Usage'],
  [DASHBOARD.activity, 'Activity'],
  [DASHBOARD.account, 'Account'],
] as const;

export type Section = (typeof SECTIONS)[number][0];

/**
 * Every dashboard route needs a session: without one, a GET goes to sign in
 * and comes back, a POST goes to sign in (its form is stale). Same-origin and
 * CSRF checks are the pages scope's, run once.
 */
export function guardDashboard(scope: FastifyInstance, pageSessions: PageSessions): void {
  scope.decorateRequest('sessionUser', null);
  scope.addHook('preValidation', async (request, reply) => {
    const user = await pageSessions.user(request);
    if (!user) {
      const back = request.method === 'GET' ? `?return_to=${encodeURIComponent(request.url)}` : '';
      return reply.code(303).header('location', PATHS.login + back).send();
    }
    request.sessionUser = user;
  });
}

/** A CSRF token bound to this reply's session. */
function csrfToken(reply: FastifyReply): string {
  return reply.server.pageSessions.csrf(reply);
}

export function userOf(request: FastifyRequest): SessionUser {
  if (!request.sessionUser) throw new Error('dashboard route without a session');
  return request.sessionUser;
}

/**
 * Whether an account change must ask the password (or a current code) first: the session signed in, or last
 * gave one, more than 15 minutes ago (the one rule, accounts/recent-auth.ts, on the services' clock).
 */
export function proofNeeded(request: FastifyRequest): boolean {
  return !request.server.pageSessions.recentlyAuthenticated(userOf(request));
}

const NUMBER = new Intl.NumberFormat('en-US');

/** A count as people read it: 225,296. */
export function count(n: number): string {
  return NUMBER.format(n);
}

/** "1 image", "2,048 images". */
export function plural(n: number, word: string): string {
  return `${count(n)} ${word}${n === 1 ? '' : 's'}`;
}

export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'never';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export interface DashboardView {
  title: string;
  section: Section;
  body: Html;
  status?: number;
  /** The page has passkey forms (PageOptions.passkeys). */
  passkeys?: boolean;
}

/** A dashboard page: the section navigation, then the body. */
export function dashboardPage(request: FastifyRequest, reply: FastifyReply, view: DashboardView): FastifyReply {
  const nav = html`<nav class="sections" aria-label="Dashboard sections"><ul>
${SECTIONS.map(([href, label]) => html`<li><a href="${href}"${href === view.section ? html` aria-current="page"` : ''}>${label}</a></li>`)}
</ul></nav>`;
  return sendPage(reply, view.status ?? 200, {
    title: view.title,
    user: userOf(request),
    csrf: csrfToken(reply),
    wide: true,
    passkeys: view.passkeys,
    body: html`${nav}<div class="dashboard">${view.body}</div>`,
  });
}

/** A hidden CSRF field for a form on a dashboard page. */
export function csrfField(reply: FastifyReply): Html {
  return html`<input type="hidden" name="_csrf" value="${csrfToken(reply)}">`;
}

/** A labelled field with its error, if any, right beside it (aria-describedby ties them). */
export function fieldError(name: string, errors: Record<string, string>): Html | '' {
  const message = errors[name];
  return message ? html`<p class="field-error" id="${name}-error" role="alert">${message}</p>` : '';
}

export function describedBy(name: string, errors: Record<string, string>, hint?: string): Html {
  const ids = [hint, errors[name] ? `${name}-error` : undefined].filter(Boolean).join(' ');
  return ids ? html` aria-describedby="${ids}"${errors[name] ? html` aria-invalid="true"` : ''}` : html``;
}

/** A secret shown once, with a copy button and the warning that it cannot be shown again. */
export function secretOnce(label: string, value: string, id: string): Html {
  return html`<div class="secret" role="status">
  <p><strong>${label}</strong> — copy it now: it cannot be shown again.</p>
  <div class="copy-row"><code id="${id}" class="mono">${value}</code>
  <button type="button" class="secondary" data-copy="${id}">Copy</button></div>
</div>`;
}

/** A page asking "are you sure?" with one POST button and a way back. */
export function confirmPage(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { section: Section; title: string; message: Html; action: string; button: string; back: string; extra?: Html },
): FastifyReply {
  return dashboardPage(request, reply, {
    title: options.title,
    section: options.section,
    body: html`<div class="card"><h1>${options.title}</h1>${options.message}
<form method="post" action="${options.action}">${csrfField(reply)}${options.extra ?? ''}
<div class="actions"><button type="submit" class="danger">${options.button}</button><a class="button-link" href="${options.back}">Cancel</a></div></form></div>`,
  });
}
