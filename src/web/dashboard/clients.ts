import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClientsService, Client } from '../../clients/service.js';
import type { Config } from '../../config.js';
import type { GrantsService } from '../../consent/grants.js';
import { AppError } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { DASHBOARD, PATHS } from '../../paths.js';
import { createClientBody } from '../../clients/schemas.js';
import { DEFAULT_GRANT_TYPES, DEVICE_CODE_GRANT } from '../../clients/rules.js';
import { checkCreateClient, checkUpdateClient } from '../../clients/validate.js';
import { DEFAULT_ALG } from '../../oidc/signing-algs.js';
import { LOOPBACK_HOSTS_IN_WORDS } from '../../clients/loopback-uris.js';
import { formatScopes, SCOPES, SCOPE_NAMES } from '../../scopes.js';
import { html, type Html } from '../html.js';
import type { EventOutbox } from '../../events/outbox.js';
import { eventsCard } from './client-events.js';
import type { ClientErrorLog } from '../../clients/recent-errors.js';
import { BRANDING_FIELD_OF, brandingApiFields, brandingFieldset, brandingFormOf, readBrandingForm, recentErrorsCard, type BrandingForm } from './client-extras.js';
import { confirmPage, csrfField, dashboardPage, describedBy, fieldError, secretOnce, userOf, when } from './common.js';

interface ClientForm {
  name: string;
  redirectUris: string[];
  scopes: string[];
  public: boolean;
  idTokenSigningAlg: string;
  postLogoutRedirectUris: string[];
  /** "Allow sign-in from devices (CLI, TV)": the device grant (SPEC §9). */
  devices: boolean;
  branding: BrandingForm;
}

/** The field limits of the form: those of the JSON API's schema. */
const LIMITS = createClientBody.properties;

const FIELD_OF: Record<string, string> = {
  name: 'name',
  redirectUris: 'redirect_uri',
  scopes: 'scope',
  idTokenSigningAlg: 'id_token_signing_alg',
  postLogoutRedirectUris: 'post_logout_redirect_uri',
  grantTypes: 'devices',
  ...BRANDING_FIELD_OF,
};

function values(body: unknown, name: string): string[] {
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === 'string').map((v) => v.trim()).filter(Boolean);
}

function readForm(body: unknown): ClientForm {
  return {
    name: field(body, 'name') ?? '',
    redirectUris: values(body, 'redirect_uri'),
    scopes: values(body, 'scope'),
    public: field(body, 'type') === 'public',
    idTokenSigningAlg: field(body, 'id_token_signing_alg') ?? DEFAULT_ALG,
    postLogoutRedirectUris: (field(body, 'post_logout_redirect_uris') ?? '').split(/\s+/).filter(Boolean),
    devices: field(body, 'devices') === 'on',
    branding: readBrandingForm(body),
  };
}

/**
 * The form as the API's input: the same schema judges both (clients/validate.ts). The form has no
 * refresh-token switch: a new client gets SPEC §9's default, and an edit keeps what the client has
 * (one the API set without refresh_token stays without it, so its grantTypes stay true).
 */
function apiFields(form: ClientForm, current?: Client) {
  const base = current ? current.grantTypes.filter((g) => g !== DEVICE_CODE_GRANT) : DEFAULT_GRANT_TYPES;
  return {
    name: form.name,
    redirectUris: form.redirectUris,
    scopes: form.scopes,
    idTokenSigningAlg: form.idTokenSigningAlg,
    postLogoutRedirectUris: form.postLogoutRedirectUris,
    grantTypes: form.devices ? [...base, DEVICE_CODE_GRANT] : [...base],
    ...brandingApiFields(form.branding),
  };
}

/** The create and edit form: name, redirect URI rows (add and remove), scopes with their descriptions, and the client type on creation. */
function clientForm(reply: FastifyReply, form: ClientForm, errors: Record<string, string>, action: string, submit: string, client: Client | null): Html {
  const creating = client === null;
  const rows = [...form.redirectUris, ''].slice(0, LIMITS.redirectUris.maxItems);
  return html`<form method="post" action="${action}" class="client-form">${csrfField(reply)}
  <label for="name">Name</label>
  <input type="text" id="name" name="name" required maxlength="${LIMITS.name.maxLength}" value="${form.name}"${describedBy('name', errors, 'name-hint')}>
  <p class="hint" id="name-hint">Shown to users on the consent page.</p>
  ${fieldError('name', errors)}
  <fieldset${describedBy('redirect_uri', errors, 'redirect-hint')}>
    <legend>Redirect URIs</legend>
    <p class="hint" id="redirect-hint">Exact callback URLs: https, http only on ${LOOPBACK_HOSTS_IN_WORDS} (any port), or an app scheme with a dot such as com.example.app:/callback. No fragments or wildcards. Up to ${LIMITS.redirectUris.maxItems}.</p>
    <div class="uri-rows" data-rows>
    ${rows.map(
      (uri, i) => html`<div class="uri-row" data-row><label class="visually-hidden" for="redirect-${i}">Redirect URI ${i + 1}</label>
      <input type="url" id="redirect-${i}" name="redirect_uri" inputmode="url" maxlength="${LIMITS.redirectUris.items.maxLength}" value="${uri}" placeholder="https://myapp.example.com/callback">
      <button type="button" class="secondary" data-remove-row aria-label="Remove redirect URI ${i + 1}">Remove</button></div>`,
    )}
    </div>
    <button type="button" class="secondary" data-add-row>Add another redirect URI</button>
    ${fieldError('redirect_uri', errors)}
  </fieldset>
  <fieldset${describedBy('scope', errors)}>
    <legend>Scopes</legend>
    ${SCOPE_NAMES.map(
      (s) => html`<div class="check"><input type="checkbox" id="scope-${s}" name="scope" value="${s}"${form.scopes.includes(s) ? html` checked` : ''}>
      <label for="scope-${s}"><strong>${s}</strong> <span class="muted">${SCOPES[s]}</span></label></div>`,
    )}
    ${fieldError('scope', errors)}
  </fieldset>
  <fieldset><legend>Sign in with Serika (OpenID Connect)</legend>
    <label for="id_token_signing_alg">ID token signing algorithm</label>
    <select id="id_token_signing_alg" name="id_token_signing_alg"${describedBy('id_token_signing_alg', errors)}>
      ${LIMITS.idTokenSigningAlg.enum.map((alg) => html`<option value="${alg}"${form.idTokenSigningAlg === alg ? html` selected` : ''}>${alg}</option>`)}
    </select>
    ${fieldError('id_token_signing_alg', errors)}
    <label for="post_logout_redirect_uris">Post-logout redirect URIs</label>
    <textarea id="post_logout_redirect_uris" name="post_logout_redirect_uris" rows="2"${describedBy('post_logout_redirect_uri', errors, 'logout-hint')}>${form.postLogoutRedirectUris.join('\n')}</textarea>
    <p class="hint" id="logout-hint">One per line: where your app may send users after they sign out of Serika. Compared exactly, like redirect URIs.</p>
    ${fieldError('post_logout_redirect_uri', errors)}
  </fieldset>
  ${brandingFieldset(form.branding, errors, client)}
  <fieldset><legend>Devices</legend>
    <div class="check"><input type="checkbox" id="devices" name="devices"${form.devices ? html` checked` : ''} aria-describedby="devices-hint">
    <label for="devices"><strong>Allow sign-in from devices (CLI, TV)</strong></label></div>
    <p class="hint" id="devices-hint">The device authorization grant (RFC 8628): your app shows a code, the user enters it at ${PATHS.device} on another device.</p>
    ${fieldError('devices', errors)}
  </fieldset>
  ${
    creating
      ? html`<fieldset><legend>Client type</legend>
    <div class="check"><input type="radio" id="type-confidential" name="type" value="confidential"${form.public ? '' : html` checked`}>
    <label for="type-confidential"><strong>Confidential</strong> <span class="muted">a server-side app that can keep a secret</span></label></div>
    <div class="check"><input type="radio" id="type-public" name="type" value="public"${form.public ? html` checked` : ''}>
    <label for="type-public"><strong>Public</strong> <span class="muted">a single-page, mobile or CLI app: no secret, PKCE only</span></label></div>
  </fieldset>`
      : ''
  }
  <div class="actions"><button type="submit">${submit}</button></div>
</form>`;
}

function authorizeUrl(config: Config, client: Client): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: client.redirectUris[0] ?? '',
    scope: formatScopes(client.scopes),
    state: 'STATE',
    code_challenge: 'CODE_CHALLENGE',
    code_challenge_method: 'S256',
  });
  return `${config.publicUrl}${PATHS.authorize}?${query.toString().replace(/\+/g, '%20')}`;
}

export async function clientsPages(scope: FastifyInstance, deps: { clients: ClientsService; grants: GrantsService; config: Config; events: EventOutbox; clientErrors: ClientErrorLog }): Promise<void> {
  const { clients, grants, config, events, clientErrors } = deps;
  const fail = (error: unknown): Record<string, string> => {
    if (error instanceof AppError && error.status < 500) return { [FIELD_OF[error.param ?? ''] ?? 'name']: error.message };
    throw error;
  };

  const listPage = async (request: FastifyRequest, reply: FastifyReply, form: ClientForm = { name: '', redirectUris: [], scopes: ['profile'], public: false, idTokenSigningAlg: DEFAULT_ALG, postLogoutRedirectUris: [], devices: false, branding: brandingFormOf(null) }, errors: Record<string, string> = {}, status = 200) => {
    const list = await clients.list(userOf(request).userId);
    return dashboardPage(request, reply, {
      title: 'OAuth clients',
      section: DASHBOARD.clients,
      status,
      body: html`<h1>OAuth clients</h1>
<div class="card"><h2>Your clients</h2>
${
  list.length === 0
    ? html`<p class="muted">No clients yet. Register your app below.</p>`
    : html`<ul class="item-list">${list.map(
        (c) => html`<li><a href="${DASHBOARD.clients}/${c.clientId}"><strong>${c.name}</strong></a> <span class="muted">${c.public ? 'public' : 'confidential'} · ${c.scopes.join(', ')}</span><br><code>${c.clientId}</code></li>`,
      )}</ul>`
}
</div>
<div class="card"><h2>Register a new client</h2>${clientForm(reply, form, errors, DASHBOARD.clients, 'Create client', null)}</div>`,
    });
  };

  const detailPage = async (request: FastifyRequest, reply: FastifyReply, client: Client, extra: { notice?: Html; form?: ClientForm; errors?: Record<string, string>; status?: number } = {}) => {
    const authorized = await grants.countForClient(client.clientId);
    const form = extra.form ?? {
      name: client.name,
      redirectUris: client.redirectUris,
      scopes: client.scopes,
      public: client.public,
      idTokenSigningAlg: client.idTokenSigningAlg,
      postLogoutRedirectUris: client.postLogoutRedirectUris,
      devices: client.grantTypes.includes(DEVICE_CODE_GRANT),
      branding: brandingFormOf(client),
    };
    const recent = await clientErrors.list(client.clientId);
    const url = authorizeUrl(config, client);
    return dashboardPage(request, reply, {
      title: client.name,
      section: DASHBOARD.clients,
      status: extra.status,
      body: html`<p><a href="${DASHBOARD.clients}">← All clients</a></p>
<h1>${client.name}</h1>
${extra.notice ?? ''}
<div class="card">
  <dl class="facts">
    <dt>Client ID</dt><dd><code id="client-id">${client.clientId}</code> <button type="button" class="secondary" data-copy="client-id">Copy</button></dd>
    <dt>Type</dt><dd>${client.public ? 'Public (no secret, PKCE only)' : 'Confidential'}</dd>
    <dt>Created</dt><dd>${when(Date.parse(client.createdAt))}</dd>
    <dt>Authorized by</dt><dd><span data-authorized-count>${authorized}</span> ${authorized === 1 ? 'user' : 'users'}</dd>
  </dl>
  <h2>Authorize URL</h2>
  <p class="hint">Replace STATE with a random value and CODE_CHALLENGE with your PKCE S256 challenge.</p>
  <div class="copy-row"><code id="authorize-url" class="mono">${url}</code> <button type="button" class="secondary" data-copy="authorize-url">Copy</button></div>
</div>
${await eventsCard(reply, client, events)}
${recentErrorsCard(recent)}
<div class="card"><h2>Edit</h2>${clientForm(reply, form, extra.errors ?? {}, `${DASHBOARD.clients}/${client.clientId}`, 'Save changes', client)}</div>
<div class="card danger-zone"><h2>Danger zone</h2><div class="actions">
  ${client.public ? '' : html`<a class="button-link" href="${DASHBOARD.clients}/${client.clientId}/reset-secret">Reset secret</a>`}
  <a class="button-link danger" href="${DASHBOARD.clients}/${client.clientId}/delete">Delete client</a>
</div></div>`,
    });
  };

  const owned = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<Client | null> => {
    try {
      return await clients.get(userOf(request).userId, request.params.id);
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') {
        await dashboardPage(request, reply, { title: 'Not found', section: DASHBOARD.clients, status: 404, body: html`<div class="card"><h1>No such client</h1><p><a href="${DASHBOARD.clients}">Back to your clients</a></p></div>` });
        return null;
      }
      throw error;
    }
  };

  scope.get(DASHBOARD.clients, async (request, reply) => listPage(request, reply));

  scope.post(DASHBOARD.clients, async (request, reply) => {
    const form = readForm(request.body);
    let created;
    try {
      created = await clients.create(userOf(request).userId, checkCreateClient({ ...apiFields(form), public: form.public }), request);
    } catch (error) {
      return listPage(request, reply, form, fail(error), 400);
    }
    const notice = created.clientSecret
      ? secretOnce('Client created. Your client secret', created.clientSecret, 'client-secret')
      : html`<p class="notice" role="status">Client created. Public clients have no secret: they use PKCE alone.</p>`;
    return detailPage(request, reply, created, { notice, status: 201 });
  });

  scope.get<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id`, async (request, reply) => {
    const client = await owned(request, reply);
    return client ? detailPage(request, reply, client) : reply;
  });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id`, async (request, reply) => {
    const client = await owned(request, reply);
    if (!client) return reply;
    const form = { ...readForm(request.body), public: client.public };
    try {
      const changes = checkUpdateClient(apiFields(form, client));
      const updated = await clients.update(userOf(request).userId, client.clientId, changes, request);
      return await detailPage(request, reply, updated, { notice: html`<p class="notice" role="status">Saved.</p>` });
    } catch (error) {
      return detailPage(request, reply, client, { form, errors: fail(error), status: 400 });
    }
  });

  scope.get<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/reset-secret`, async (request, reply) => {
    const client = await owned(request, reply);
    if (!client) return reply;
    return confirmPage(request, reply, {
      section: DASHBOARD.clients,
      title: 'Reset client secret',
      message: html`<p>Reset the secret of <strong>${client.name}</strong>? <strong>The old secret stops working at once</strong>: your app must use the new one for its next token request.</p>`,
      action: `${DASHBOARD.clients}/${client.clientId}/reset-secret`,
      button: 'Reset secret',
      back: `${DASHBOARD.clients}/${client.clientId}`,
    });
  });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/reset-secret`, async (request, reply) => {
    const client = await owned(request, reply);
    if (!client) return reply;
    const { clientSecret } = await clients.resetSecret(userOf(request).userId, client.clientId, request);
    return detailPage(request, reply, client, { notice: secretOnce('Secret reset. Your new client secret', clientSecret, 'client-secret') });
  });

  scope.get<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/delete`, async (request, reply) => {
    const client = await owned(request, reply);
    if (!client) return reply;
    const authorized = await grants.countForClient(client.clientId);
    return confirmPage(request, reply, {
      section: DASHBOARD.clients,
      title: 'Delete client',
      message: html`<p>Delete <strong>${client.name}</strong>? With it die the grants of the ${authorized} ${authorized === 1 ? 'user' : 'users'} who authorized it, every access and refresh token it holds, and its unused authorization codes. Apps using its client ID stop working at once. This cannot be undone.</p>`,
      action: `${DASHBOARD.clients}/${client.clientId}/delete`,
      button: 'Delete client',
      back: `${DASHBOARD.clients}/${client.clientId}`,
    });
  });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/delete`, async (request, reply) => {
    const client = await owned(request, reply);
    if (!client) return reply;
    await clients.delete(userOf(request).userId, client.clientId, request);
    return reply.code(303).header('location', DASHBOARD.clients).send();
  });
}
