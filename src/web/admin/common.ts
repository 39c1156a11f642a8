import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../../accounts/sessions.js';
import type { UsersService } from '../../accounts/users-service.js';
import { ADMIN, PATHS } from '../../paths.js';
import { html, type Html } from '../html.js';
import { sendPage } from '../layout.js';
import { safeReturnTo, type PageSessions } from '../session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on admin routes: the signed-in admin. */
    adminUser: SessionUser | null;
  }
}

/** SPEC §12: admin pages ask again for a second factor (or the password) this often. */
export const REAUTH_EVERY_MS = 15 * 60 * 1000;

const SECTIONS = [
  [ADMIN.users, 'Users'],
  [ADMIN.apps, 'Apps'],
  [ADMIN.usage, 'Usage'],
  [ADMIN.audit, 'Audit'],
  [ADMIN.signingKeys, 'Signing keys'],
] as const;

type AdminSection = (typeof SECTIONS)[number][0];

/** The page's way back after re-authenticating: a GET comes back to itself, a POST to its section. */
function backTo(request: FastifyRequest): string {
  return request.method === 'GET' ? (safeReturnTo(request.url) ?? ADMIN.users) : ADMIN.users;
}

/**
 * Every admin route (SPEC §12): a visitor not signed in signs in first; a signed-in user who is not an admin gets
 * the 404 of an unknown route (nothing says the console exists); an admin whose last re-authentication in this
 * session is older than REAUTH_EVERY_MS proves it again first, except on the re-authentication page itself. The
 * role is read each request, so a demoted admin loses the console at once.
 */
export function guardAdmin(scope: FastifyInstance, deps: { pageSessions: PageSessions; users: UsersService; now: () => number }): void {
  scope.decorateRequest('adminUser', null);
  scope.addHook('preValidation', async (request, reply) => {
    const user = await deps.pageSessions.user(request);
    if (!user) {
      const back = request.method === 'GET' ? `?return_to=${encodeURIComponent(request.url)}` : '';
      return reply.code(303).header('location', PATHS.login + back).send();
    }
    if ((await deps.users.findById(user.userId))?.role !== 'admin') return reply.callNotFound();
    request.adminUser = user;
    // The re-authentication's own routes (its form, and its passkey's options and answer).
    if (request.routeOptions.url === ADMIN.reauth || request.routeOptions.url?.startsWith(`${ADMIN.reauth}/`)) return;
    if (user.reauthAt === null || deps.now() - user.reauthAt >= REAUTH_EVERY_MS) {
      return reply.code(303).header('location', `${ADMIN.reauth}?return_to=${encodeURIComponent(backTo(request))}`).send();
    }
  });
}

export function adminOf(request: FastifyRequest): SessionUser {
  if (!request.adminUser) throw new Error('admin route without an admin');
  return request.adminUser;
}

export function csrfField(reply: FastifyReply): Html {
  return html`<input type="hidden" name="_csrf" value="${reply.server.pageSessions.csrf(reply)}">`;
}

/** An admin page: the console's navigation, then the body, in the dashboard's look. */
export function adminPage(request: FastifyRequest, reply: FastifyReply, view: { title: string; section: AdminSection | null; body: Html; status?: number; passkeys?: boolean }): FastifyReply {
  const nav = html`<nav class="sections" aria-label="Admin sections"><ul>
${SECTIONS.map(([href, label]) => html`<li><a href="${href}"${href === view.section ? html` aria-current="page"` : ''}>${label}</a></li>`)}
<li><a href="${PATHS.dashboard}">Your dashboard</a></li>
</ul></nav>`;
  return sendPage(reply, view.status ?? 200, {
    title: `${view.title} · Admin`,
    user: adminOf(request),
    csrf: reply.server.pageSessions.csrf(reply),
    wide: true,
    passkeys: view.passkeys,
    body: html`${nav}<div class="dashboard">${view.body}</div>`,
  });
}

/** One POST button (CSRF included), for an action on a detail page. */
export function actionButton(reply: FastifyReply, action: string, label: string, danger = false): Html {
  return html`<form method="post" action="${action}" class="inline">${csrfField(reply)}<button type="submit"${danger ? html` class="danger"` : html` class="secondary"`}>${label}</button></form>`;
}

/** A search box (GET: its results are a page one can link to). */
export function searchForm(action: string, q: string, label: string, extra: Html | '' = ''): Html {
  return html`<form method="get" action="${action}" class="search" role="search">
<label for="q">${label}</label> <input id="q" name="q" type="search" value="${q}" maxlength="320"> ${extra}<button type="submit">Search</button>
</form>`;
}

/** The "Next page" link of a keyset-paged list: the same query, after its last row. */
export function nextPage(path: string, params: Record<string, string | undefined>, cursor: { name: string; value: string } | null): Html | '' {
  if (!cursor) return '';
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) query.set(k, v);
  query.set(cursor.name, cursor.value);
  return html`<p class="pager"><a href="${path}?${query.toString()}" rel="next">Next page</a></p>`;
}

/** A query parameter as text, or undefined. */
export function queryText(request: FastifyRequest, name: string, max = 320): string | undefined {
  const value = (request.query as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined;
}
