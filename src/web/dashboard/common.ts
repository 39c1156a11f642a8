import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionsService, SessionUser } from '../../accounts/sessions.js';
import type { Config } from '../../config.js';
import { html, type Html } from '../html.js';
import { sendPage } from '../layout.js';
import { currentUser, protectFormPosts } from '../session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on dashboard routes: the signed-in user. */
    sessionUser: SessionUser | null;
  }
}

export const SECTIONS = [
  ['/dashboard', 'Overview'],
  ['/dashboard/keys', 'API keys'],
  ['/dashboard/clients', 'OAuth clients'],
  ['/dashboard/apps', 'Connected apps'],
  ['/dashboard/characters', 'Characters'],
  ['/dashboard/usage', 'Usage'],
  ['/dashboard/account', 'Account'],
] as const;

export type Section = (typeof SECTIONS)[number][0];

/**
 * Every dashboard route needs a session (a GET without one goes to sign in
 * and comes back); every POST is same-origin and carries a CSRF token.
 */
export function guardDashboard(scope: FastifyInstance, deps: { sessions: SessionsService; config: Config }): void {
  if (!scope.hasRequestDecorator('sessionUser')) scope.decorateRequest('sessionUser', null);
  protectFormPosts(scope, deps.config.publicUrl);
  scope.addHook('preValidation', async (request, reply) => {
    const user = await currentUser(request, deps.sessions);
    if (!user) {
      if (request.method === 'GET') return reply.code(303).header('location', `/login?return_to=${encodeURIComponent(request.url)}`).send();
      return reply.code(401).header('location', '/login').send();
    }
    request.sessionUser = user;
  });
}

export function userOf(request: FastifyRequest): SessionUser {
  if (!request.sessionUser) throw new Error('dashboard route without a session');
  return request.sessionUser;
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
}

/** A dashboard page: the section navigation, then the body. */
export function dashboardPage(request: FastifyRequest, reply: FastifyReply, view: DashboardView): FastifyReply {
  const nav = html`<nav class="sections" aria-label="Dashboard sections"><ul>
${SECTIONS.map(([href, label]) => html`<li><a href="${href}"${href === view.section ? html` aria-current="page"` : ''}>${label}</a></li>`)}
</ul></nav>`;
  return sendPage(reply, view.status ?? 200, {
    title: view.title,
    user: userOf(request),
    csrf: reply.generateCsrf(),
    wide: true,
    body: html`${nav}<div class="dashboard">${view.body}</div>`,
  });
}

/** A hidden CSRF field for a form on a dashboard page. */
export function csrfField(reply: FastifyReply): Html {
  return html`<input type="hidden" name="_csrf" value="${reply.generateCsrf()}">`;
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
