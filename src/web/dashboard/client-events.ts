import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Client, ClientsService } from '../../clients/service.js';
import { AppError } from '../../errors.js';
import { HOLD, type EventOutbox } from '../../events/outbox.js';
import { WEBHOOK_EVENT_TYPES } from '../../events/types.js';
import { field } from '../../http/form-body.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { csrfField, dashboardPage, secretOnce, userOf, when } from './common.js';

const path = (client: Pick<Client, 'clientId'>, rest = '') => `${DASHBOARD.clients}/${client.clientId}${rest}`;

function checkedTypes(body: unknown): string[] {
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).event : undefined;
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === 'string');
}

/**
 * The client page's "Events" card (SPEC §13): the webhook URL and its event
 * types, the back-channel logout URI, "Rotate" and "Send test event", and
 * the latest deliveries with their tries and "Resend".
 */
export async function eventsCard(reply: FastifyReply, client: Client, events: EventOutbox, error: string | null = null): Promise<Html> {
  const deliveries = await events.deliveries(client.clientId, 20);
  return html`<div class="card" id="events"><h2>Events</h2>
<form method="post" action="${path(client, '/events')}">${csrfField(reply)}
  <label for="webhook_url">Webhook URL</label>
  <input type="url" id="webhook_url" name="webhook_url" maxlength="2000" value="${client.webhookUrl ?? ''}" placeholder="https://myapp.example.com/webhooks/serika" aria-describedby="webhook-hint">
  <p class="hint" id="webhook-hint">Serika POSTs the events below here, signed as Standard Webhooks says. https to a public address. Leave empty for none.</p>
  <fieldset><legend>Event types</legend>
  ${WEBHOOK_EVENT_TYPES.map((t) => html`<div class="check"><input type="checkbox" id="event-${t}" name="event" value="${t}"${client.webhookEvents.includes(t) ? html` checked` : ''}><label for="event-${t}"><code>${t}</code></label></div>`)}
  </fieldset>
  <label for="backchannel_logout_uri">Back-channel logout URI</label>
  <input type="url" id="backchannel_logout_uri" name="backchannel_logout_uri" maxlength="2000" value="${client.backchannelLogoutUri ?? ''}" aria-describedby="bcl-hint">
  <p class="hint" id="bcl-hint">OpenID Back-Channel Logout: a logout_token is POSTed here when a user's Serika session in which your app got an ID token ends.</p>
  ${error ? html`<p class="field-error" role="alert">${error}</p>` : ''}
  <div class="actions"><button type="submit">Save events</button></div>
</form>
${
  client.webhookUrl
    ? html`<div class="actions">
  <form method="post" action="${path(client, '/rotate-webhook-secret')}">${csrfField(reply)}<button type="submit" class="secondary">Rotate</button></form>
  <form method="post" action="${path(client, '/test-event')}">${csrfField(reply)}<button type="submit" class="secondary">Send test event</button></form>
</div>`
    : ''
}
<h3>Deliveries</h3>
${
  deliveries.length === 0
    ? html`<p class="muted">No events yet.</p>`
    : html`<table class="deliveries"><thead><tr><th scope="col">Event</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col">Tries</th><th scope="col">Response</th><th scope="col"></th></tr></thead><tbody>
${deliveries.map(
  (d) => html`<tr data-event="${d.id}"><td><code>${d.type}</code></td><td>${when(d.createdAt)}</td><td data-status>${d.state === 'pending' && d.lastError === HOLD.error ? 'held: the app is suspended' : d.state}</td><td data-tries>${d.attempts}</td>
<td data-response>${d.tries.map((t) => html`<span title="${when(t.at)}${t.error ? ` — ${t.error}` : ''}">${t.statusCode ?? 'no answer'}</span> `)}</td>
<td>${d.state === 'sending' ? '' : html`<form method="post" action="${path(client, `/deliveries/${d.id}/resend`)}">${csrfField(reply)}<button type="submit" class="secondary">Resend</button></form>`}</td></tr>`,
)}</tbody></table>`
}
</div>`;
}

export async function clientEventsPages(scope: FastifyInstance, deps: { clients: ClientsService; events: EventOutbox }): Promise<void> {
  const { clients, events } = deps;
  type ById = FastifyRequest<{ Params: { id: string } }>;
  const back = (reply: FastifyReply, client: Pick<Client, 'clientId'>) => reply.code(303).header('location', `${path(client)}#events`).send();
  const secretPage = (request: FastifyRequest, reply: FastifyReply, client: Client, label: string, secret: string) =>
    dashboardPage(request, reply, {
      title: client.name,
      section: DASHBOARD.clients,
      body: html`<div class="card"><h1>${client.name}</h1>${secretOnce(label, secret, 'webhook-secret')}<p><a href="${path(client)}#events">Back to ${client.name}</a></p></div>`,
    });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/events`, async (request: ById, reply) => {
    const userId = userOf(request).userId;
    const client = await clients.get(userId, request.params.id);
    try {
      const updated = await clients.update(
        userId,
        client.clientId,
        {
          webhookUrl: field(request.body, 'webhook_url')?.trim() || null,
          webhookEvents: checkedTypes(request.body),
          backchannelLogoutUri: field(request.body, 'backchannel_logout_uri')?.trim() || null,
        },
        request,
      );
      if (updated.webhookSecret) return secretPage(request, reply, updated, 'Webhook set. Your webhook signing secret', updated.webhookSecret);
      return back(reply, client);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return dashboardPage(request, reply, { title: client.name, section: DASHBOARD.clients, status: 400, body: html`<p><a href="${path(client)}">← ${client.name}</a></p>${await eventsCard(reply, client, events, error.message)}` });
    }
  });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/rotate-webhook-secret`, async (request: ById, reply) => {
    const userId = userOf(request).userId;
    const client = await clients.get(userId, request.params.id);
    const { webhookSecret } = await clients.rotateWebhookSecret(userId, client.clientId, request);
    return secretPage(request, reply, client, 'Secret rotated. Your new webhook signing secret', webhookSecret);
  });

  scope.post<{ Params: { id: string } }>(`${DASHBOARD.clients}/:id/test-event`, async (request: ById, reply) => {
    const userId = userOf(request).userId;
    const client = await clients.get(userId, request.params.id);
    await events.test(userId, client.clientId);
    return back(reply, client);
  });

  scope.post<{ Params: { id: string; eventId: string } }>(`${DASHBOARD.clients}/:id/deliveries/:eventId/resend`, async (request, reply) => {
    const client = await clients.get(userOf(request).userId, request.params.id);
    await events.resend(client.clientId, request.params.eventId);
    return back(reply, client);
  });
}
