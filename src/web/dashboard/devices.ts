import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionsService } from '../../accounts/sessions.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { csrfField, userOf, when } from './common.js';

const DEVICES = `${DASHBOARD.account}/devices`;

/** What the Account page says after a sign-out here (the redirect's ?devices=). */
const NOTICES: Record<string, string> = {
  'signed-out': 'That device was signed out.',
  'others-signed-out': 'Every other device was signed out.',
};

function time(ms: number): Html {
  return html`<time datetime="${new Date(ms).toISOString()}">${when(ms)}</time>`;
}

/**
 * The Account page's "Signed-in devices" (SPEC §11): each live session of the
 * user with its browser, address, sign-in and last-seen time, this one
 * marked, a "Sign out" for each other one and "Sign out everywhere else".
 */
export async function devicesSection(request: FastifyRequest, reply: FastifyReply, sessions: SessionsService): Promise<Html> {
  const current = request.server.pageSessions.handle(request);
  // This device first, then the others as listed (most recently seen first).
  const devices = (await sessions.list(userOf(request).userId)).sort((a, b) => Number(b.handle === current) - Number(a.handle === current));
  const notice = NOTICES[String((request.query as Record<string, unknown> | undefined)?.devices)];
  const others = devices.filter((d) => d.handle !== current).length;
  return html`<section class="card" id="devices" aria-labelledby="devices-title"><h2 id="devices-title">Signed-in devices</h2>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p class="hint">Where your account is signed in now. If you do not recognise a device, sign it out and change your password.</p>
<div class="table-wrap"><table>
  <caption class="visually-hidden">Signed-in devices</caption>
  <thead><tr><th scope="col">Browser</th><th scope="col">IP address</th><th scope="col">Signed in</th><th scope="col">Last seen</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>${devices.map(
    (d) => html`<tr data-session="${d.handle}"><td>${d.browser}${d.handle === current ? html` <span class="badge">This device</span>` : ''}</td>
    <td>${d.ip ?? 'unknown'}</td><td>${time(d.signedInAt)}</td><td>${time(d.lastSeenAt)}</td>
    <td>${
      d.handle === current
        ? ''
        : html`<form method="post" action="${DEVICES}/${d.handle}/sign-out">${csrfField(reply)}<button type="submit" class="secondary" aria-label="Sign out ${d.browser}, signed in ${when(d.signedInAt)}">Sign out</button></form>`
    }</td></tr>`,
  )}</tbody></table></div>
${
  others > 0
    ? html`<form method="post" action="${DEVICES}/sign-out-others">${csrfField(reply)}<div class="actions"><button type="submit" class="secondary">Sign out everywhere else</button></div></form>`
    : html`<p class="muted">No other device is signed in.</p>`
}
</section>`;
}

/** Ending sessions from the list: one other device of the user's (anyone else's is not found: 404), or all but this one. */
export async function devicesPages(scope: FastifyInstance): Promise<void> {
  const back = (reply: FastifyReply, notice: string) => reply.code(303).header('location', `${DASHBOARD.account}?devices=${notice}#devices`).send();

  scope.post<{ Params: { handle: string } }>(`${DEVICES}/:handle/sign-out`, async (request, reply) => {
    await scope.pageSessions.endSessions(request, userOf(request).userId, { handle: request.params.handle });
    return back(reply, 'signed-out');
  });

  scope.post(`${DEVICES}/sign-out-others`, async (request, reply) => {
    await scope.pageSessions.endSessions(request, userOf(request).userId, 'others');
    return back(reply, 'others-signed-out');
  });
}
