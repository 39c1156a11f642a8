import type { FastifyInstance } from 'fastify';
import type { ApiKeysService } from '../../accounts/api-keys/service.js';
import { AppError } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { html, type Html } from '../html.js';
import { confirmPage, csrfField, dashboardPage, describedBy, fieldError, secretOnce, userOf, when } from './common.js';
import { DASHBOARD } from '../../paths.js';

/** API keys: create (shown once), list, revoke with a confirmation. */
export async function keysPages(scope: FastifyInstance, apiKeys: ApiKeysService): Promise<void> {
  const render = async (request: Parameters<typeof userOf>[0], reply: Parameters<typeof csrfField>[0], extra: { created?: Html; errors?: Record<string, string>; name?: string; status?: number } = {}) => {
    const keys = await apiKeys.list(userOf(request).userId);
    const errors = extra.errors ?? {};
    return dashboardPage(request, reply, {
      title: 'API keys',
      section: DASHBOARD.keys,
      status: extra.status,
      body: html`<h1>API keys</h1>
${extra.created ?? ''}
<div class="card">
  <h2>Create a key</h2>
  <p class="hint">Keys call the client-management and first-party APIs as you: <code>Authorization: Bearer sk-serika-…</code></p>
  <form method="post" action="${DASHBOARD.keys}">${csrfField(reply)}
    <label for="key-name">Name</label>
    <input type="text" id="key-name" name="name" maxlength="100" required value="${extra.name ?? ''}"${describedBy('name', errors)}>
    ${fieldError('name', errors)}
    <div class="actions"><button type="submit">Create key</button></div>
  </form>
</div>
<div class="card">
  <h2>Your keys</h2>
  ${
    keys.length === 0
      ? html`<p class="muted">No keys yet.</p>`
      : html`<div class="table-wrap"><table>
    <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${keys.map(
      (k) => html`<tr><td>${k.name}</td><td><code>${k.prefix}</code></td><td>${when(k.createdAt)}</td><td>${when(k.lastUsedAt)}</td>
      <td>${k.revokedAt === null ? 'active' : html`<span class="muted">revoked</span>`}</td>
      <td>${k.revokedAt === null ? html`<a href="${DASHBOARD.keys}/${k.id}/revoke" aria-label="Revoke ${k.name}">Revoke</a>` : ''}</td></tr>`,
    )}</tbody></table></div>`
  }
</div>`,
    });
  };

  scope.get(DASHBOARD.keys, async (request, reply) => render(request, reply));

  scope.post(DASHBOARD.keys, async (request, reply) => {
    const name = field(request.body, 'name') ?? '';
    try {
      const created = await apiKeys.create(userOf(request).userId, name, request);
      return await render(request, reply, { created: secretOnce(`Your new API key “${created.name}”`, created.key, 'new-key'), status: 201 });
    } catch (error) {
      if (error instanceof AppError && error.status < 500) return render(request, reply, { errors: { name: error.message }, name, status: 400 });
      throw error;
    }
  });

  scope.get<{ Params: { id: string } }>(`${DASHBOARD.keys}/:id/revoke`, async (request, reply) => {
    const key = (await apiKeys.list(userOf(request).userId)).find((k) => k.id === request.params.id && k.revokedAt === null);
    if (!key) return reply.code(303).header('location', DASHBOARD.keys).send();
    return confirmPage(request, reply, {
      section: DASHBOARD.keys,
      title: 'Revoke API key',
      message: html`<p>Revoke <strong>${key.name}</strong> (<code>${key.prefix}</code>)? Anything using it gets <code>401</code> from the next request on. This cannot be undone.</p>`,
      action: `${DASHBOARD.keys}/${key.id}/revoke`,
      button: 'Revoke key',
      back: DASHBOARD.keys,
    });
  });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.keys}/:id/revoke`, async (request, reply) => {
    await apiKeys.revokeById(userOf(request).userId, request.params.id, request);
    return reply.code(303).header('location', DASHBOARD.keys).send();
  });
}
