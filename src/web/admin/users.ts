import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SecondFactors } from '../../accounts/second-factors/service.js';
import type { SessionsService } from '../../accounts/sessions.js';
import type { UserAdmin } from '../../accounts/user-admin.js';
import type { UsersService } from '../../accounts/users-service.js';
import type { ClientsService } from '../../clients/service.js';
import { AppError, notFound } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { ADMIN } from '../../paths.js';
import { html } from '../html.js';
import { when } from '../dashboard/common.js';
import { actionButton, adminOf, adminPage, csrfField, nextPage, queryText, searchForm } from './common.js';

export interface AdminUsersDeps {
  userAdmin: UserAdmin;
  users: UsersService;
  clients: ClientsService;
  sessions: SessionsService;
  secondFactors: SecondFactors;
}

const PAGE = 50;
const userPath = (id: string) => ADMIN.user.replace(':id', encodeURIComponent(id));

/** Users (SPEC §12): search, a user's apps, sessions and factors, and what an admin does to them. */
export async function adminUsersPages(scope: FastifyInstance, deps: AdminUsersDeps): Promise<void> {
  const { userAdmin, users, clients, sessions, secondFactors } = deps;

  scope.get(ADMIN.users, async (request, reply) => {
    const q = queryText(request, 'q') ?? '';
    const after = queryText(request, 'after', 200);
    const page = (await userAdmin.search(q, { limit: PAGE, after })) ?? { rows: [], hasMore: false };
    const last = page.rows.at(-1);
    return adminPage(request, reply, {
      title: 'Users',
      section: ADMIN.users,
      body: html`<h1>Users</h1>
<div class="card">${searchForm(ADMIN.users, q, 'Username or email starts with')}
<p class="muted">A search with an @ looks at email addresses, otherwise at usernames; both ignore case.</p></div>
<div class="card table-wrap"><table class="admin-users">
<thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
<tbody>${page.rows.map(
        (u) => html`<tr data-user="${u.username}"><td><a href="${userPath(u.id)}">${u.username}</a></td><td>${u.email ?? ''}</td><td>${u.role}</td><td>${u.suspended ? html`<span class="badge">suspended</span>` : 'active'}</td><td>${when(u.createdAt)}</td></tr>`,
      )}</tbody></table>
${page.rows.length === 0 ? html`<p class="muted">No users match.</p>` : ''}
${nextPage(ADMIN.users, { q }, page.hasMore && last ? { name: 'after', value: last.id } : null)}</div>`,
    });
  });

  const detail = async (request: FastifyRequest, reply: FastifyReply, id: string, status = 200, error?: string) => {
    const user = await userAdmin.get(id);
    const [owned, devices, factors, codesLeft] = await Promise.all([clients.list(id), sessions.list(id), secondFactors.factorsOf(id), secondFactors.recoveryCodesLeft(id)]);
    const base = userPath(id);
    const self = adminOf(request).userId === id;
    return adminPage(request, reply, {
      title: user.username,
      section: ADMIN.users,
      status,
      body: html`<h1>${user.username}</h1>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<div class="card"><dl>
<dt>ID</dt><dd><code>${user.id}</code></dd>
<dt>Email</dt><dd>${user.email ?? 'none'}${user.email && user.verifiedEmail ? ' (verified)' : ''}</dd>
<dt>Role</dt><dd>${user.role}</dd>
<dt>State</dt><dd data-state>${user.suspendedAt === null ? 'active' : `suspended since ${when(user.suspendedAt)}`}</dd>
<dt>Created</dt><dd>${when(user.createdAt)}</dd></dl>
${
  self
    ? html`<p class="muted">This is you: suspend or delete your own account from elsewhere.</p>`
    : html`<div class="actions">
${user.suspendedAt === null ? actionButton(reply, `${base}/suspend`, 'Suspend', true) : actionButton(reply, `${base}/unsuspend`, 'Unsuspend')}
${actionButton(reply, `${base}/reset-factors`, 'Reset second factors')}
</div>`
}</div>
<div class="card"><h2>Apps they own</h2>${
        owned.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<ul>${owned.map((c) => html`<li><a href="${ADMIN.app.replace(':clientId', encodeURIComponent(c.clientId))}">${c.name}</a> <code>${c.clientId}</code></li>`)}</ul>`
      }</div>
<div class="card"><h2>Sessions</h2>${
        devices.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<table><thead><tr><th scope="col">Browser</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last seen</th></tr></thead>
<tbody>${devices.map((d) => html`<tr><td>${d.browser}</td><td>${d.ip ?? 'unknown'}</td><td>${when(d.signedInAt)}</td><td>${when(d.lastSeenAt)}</td></tr>`)}</tbody></table>`
      }</div>
<div class="card"><h2>Second factors</h2><p data-factors>${factors.length === 0 ? 'None.' : `${factors.map((f) => (f === 'totp' ? 'Authenticator app' : f)).join(', ')}; ${codesLeft} recovery codes left.`}</p></div>
${
  self
    ? ''
    : html`<div class="card danger-zone"><h2>Delete</h2><p>Deletes the account with its API keys, OAuth clients (and every grant and token they hold), connected apps, characters and usage. It cannot be undone.</p>
<form method="post" action="${base}/delete">${csrfField(reply)}<label for="confirm">Type ${user.username} to confirm</label><input id="confirm" name="confirm" autocomplete="off" required>
<div class="actions"><button type="submit" class="danger">Delete</button></div></form></div>`
}`,
    });
  };

  const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;
  scope.get(ADMIN.user, async (request, reply) => detail(request, reply, idOf(request)));

  /** An action, then back to the user's page; a refusal (yourself) is shown there. */
  const act = (path: string, run: (request: FastifyRequest, id: string, actorId: string) => Promise<unknown>) =>
    scope.post(`${ADMIN.user}/${path}`, async (request, reply) => {
      const id = idOf(request);
      try {
        await run(request, id, adminOf(request).userId);
      } catch (error) {
        if (error instanceof AppError && error.code === 'invalid_value') return detail(request, reply, id, 400, error.message);
        throw error;
      }
      return reply.code(303).header('location', userPath(id)).send();
    });
  act('suspend', (request, id, actor) => userAdmin.suspend(id, actor, request));
  act('unsuspend', (request, id, actor) => userAdmin.unsuspend(id, actor, request));
  act('reset-factors', async (request, id, actor) => secondFactors.resetAll((await userAdmin.get(id)).id, actor, request));

  // The dashboard's account deletion (UsersService.delete), with the admin as the event's actor.
  scope.post(`${ADMIN.user}/delete`, async (request, reply) => {
    const id = idOf(request);
    const user = await userAdmin.get(id);
    if (adminOf(request).userId === id) throw notFound('user');
    if (field(request.body, 'confirm') !== user.username) return detail(request, reply, id, 400, `Type ${user.username} exactly to delete the account.`);
    await users.delete(id, request, adminOf(request).userId);
    return reply.code(303).header('location', ADMIN.users).send();
  });
}
