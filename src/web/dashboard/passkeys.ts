import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PASSKEY_NAME_MAX, type PasskeyRefusal, type Passkeys } from '../../accounts/second-factors/passkeys.js';
import type { SecondFactors } from '../../accounts/second-factors/service.js';
import { field } from '../../http/form-body.js';
import { DASHBOARD } from '../../paths.js';
import { html, type Html } from '../html.js';
import { underLoginLimit } from '../login-limit.js';
import { tooManyWrong } from '../second-step-pages.js';
import { csrfField, dashboardPage, describedBy, fieldError, proofNeeded, userOf, when } from './common.js';
import { proofOf, type TwoFactorDeps } from './two-factor.js';

const BASE = `${DASHBOARD.account}/passkeys`;

export interface PasskeysPagesDeps extends Pick<TwoFactorDeps, 'secondStep' | 'throttle' | 'users' | 'audit'> {
  passkeys: Passkeys;
  secondFactors: SecondFactors;
}

/** What the Account page says after a change here (the redirect's ?passkeys=). */
const NOTICES: Record<string, string> = {
  added: 'Passkey added.',
  first: 'Passkey added. Your other sessions were signed out: signing in now takes a second step after the password.',
  removed: 'Passkey removed.',
};

const REFUSALS: Record<PasskeyRefusal, string> = {
  malformed: 'The browser sent no passkey. Try again.',
  challenge: 'That passkey prompt expired or was already used. Try again.',
  credential: 'That passkey is already registered.',
  verification: 'That passkey could not be verified. Try again.',
};

function time(ms: number | null): Html {
  return ms === null ? html`never` : html`<time datetime="${new Date(ms).toISOString()}">${when(ms)}</time>`;
}

/**
 * The Account page's "Passkeys" (SPEC §11): each passkey with its name, when it was added and last used, and
 * "Remove"; then "Add a passkey", a name and the browser's prompt (assets/passkeys.js), a form hidden where
 * the browser cannot make one (no JavaScript, no WebAuthn).
 */
export async function passkeysSection(request: FastifyRequest, reply: FastifyReply, passkeys: Passkeys, error?: string): Promise<Html> {
  const list = await passkeys.list(userOf(request).userId);
  const notice = NOTICES[String((request.query as Record<string, unknown> | undefined)?.passkeys)];
  const errors: Record<string, string> = error ? { passkey_name: error } : {};
  return html`<section class="card" id="passkeys" aria-labelledby="passkeys-title"><h2 id="passkeys-title">Passkeys</h2>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p class="hint">A passkey signs you in with your device's screen lock or a security key, without your password. It is also a second step after your password.</p>
${
  list.length === 0
    ? html`<p>No passkeys yet.</p>`
    : html`<div class="table-wrap"><table>
  <caption class="visually-hidden">Passkeys</caption>
  <thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>${list.map(
    (p) => html`<tr data-passkey-id="${p.id}"><td>${p.name}</td><td>${time(p.createdAt)}</td><td>${time(p.lastUsedAt)}</td>
    <td><a class="button-link" href="${BASE}/${p.id}/remove" aria-label="Remove passkey ${p.name}">Remove</a></td></tr>`,
  )}</tbody>
</table></div>`
}
<form method="post" action="${BASE}" data-passkey="register" data-passkey-options="${BASE}/options" hidden>${csrfField(reply)}
  <input type="hidden" name="response" value="">
  <label for="passkey_name">Passkey name</label>
  <input type="text" id="passkey_name" name="name" required maxlength="${PASSKEY_NAME_MAX}" autocomplete="off"${describedBy('passkey_name', errors, 'passkey-name-hint')}>
  <p class="hint" id="passkey-name-hint">So you can tell it apart later, such as “Work laptop” or “Phone”.</p>
  ${fieldError('passkey_name', errors)}
  ${
    proofNeeded(request)
      ? html`<label for="passkey_proof">Password or current code</label>
  <input type="password" id="passkey_proof" name="proof" autocomplete="current-password" required maxlength="256" aria-describedby="passkey-proof-hint">
  <p class="hint" id="passkey-proof-hint">You signed in more than 15 minutes ago: your password, or a code from your authenticator app, since a passkey signs in on its own.</p>`
      : ''
  }
  <div class="actions"><button type="submit">Add a passkey</button></div>
  <p class="error" role="alert" data-passkey-status hidden></p>
</form>
<noscript><p class="hint">Adding a passkey needs JavaScript.</p></noscript>
</section>`;
}

/** Adding a passkey and removing one (SPEC §11), under the Account section. */
export async function passkeysPages(scope: FastifyInstance, deps: PasskeysPagesDeps): Promise<void> {
  const { passkeys, secondFactors, secondStep } = deps;
  const pageSessions = scope.pageSessions;
  const account = (reply: FastifyReply, notice: string) => reply.code(303).header('location', `${DASHBOARD.account}?passkeys=${notice}#passkeys`).send();

  // A passkey signs in alone, so a session older than 15 minutes (recent-auth.ts: one left open, or stolen) is
  // asked what it may not have: the password or a current code, checked (and throttled, and counted per
  // address) before the challenge is made. A fresh session gives a name only (SPEC §11). The challenge is
  // bound to this session: only the browser signed in as the user can answer it, within minutes.
  scope.post(`${BASE}/options`, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const user = userOf(request);
      if (proofNeeded(request)) {
        const proof = field(request.body, 'proof') ?? '';
        // A page loaded while the session was fresh has no such field: no guess was made, none is counted.
        if (proof === '') return reply.code(400).send({ error: 'You signed in more than 15 minutes ago: reload the page and give your password first.' });
        const proven = await proofOf(deps, request, user, proof, 'add_passkey');
        if (proven !== true) {
          if (proven === false) wrong();
          else reply.header('retry-after', String(proven.waitSeconds));
          const message = proven === false ? 'That is neither a current code nor your password.' : tooManyWrong('tries', proven.waitSeconds);
          return reply.code(proven === false ? 400 : 429).send({ error: message });
        }
        await pageSessions.markConfirmed(request, user);
      }
      return reply.send(await passkeys.registrationOptions({ id: user.userId, username: user.username }, pageSessions.binding(request)));
    }),
  );

  scope.post(BASE, async (request, reply) => {
    const user = userOf(request);
    const hadFactor = (await secondFactors.factorsOf(user.userId)).length > 0;
    const result = await passkeys.register(user.userId, field(request.body, 'name') ?? '', field(request.body, 'response') ?? '', pageSessions.binding(request), request);
    if (!result.ok) {
      const section = await passkeysSection(request, reply, passkeys, REFUSALS[result.refused]);
      return dashboardPage(request, reply, { title: 'Account', section: DASHBOARD.account, status: 400, passkeys: true, body: html`<h1>Account</h1>${section}` });
    }
    // A first second factor ends the sessions a password alone started, as turning on the app does.
    if (hadFactor) return account(reply, 'added');
    await pageSessions.endSessions(request, user.userId, 'others');
    return account(reply, 'first');
  });

  const removePage = async (request: FastifyRequest, reply: FastifyReply, id: string, status = 200, error?: string) => {
    const passkey = (await passkeys.list(userOf(request).userId)).find((p) => p.id === id);
    if (!passkey) return reply.code(303).header('location', DASHBOARD.account).send();
    const errors: Record<string, string> = error ? { proof: error } : {};
    return dashboardPage(request, reply, {
      title: 'Remove passkey',
      section: DASHBOARD.account,
      status,
      body: html`<div class="card"><h1>Remove passkey</h1>
<p>Remove the passkey <strong>${passkey.name}</strong>? It will no longer sign you in.</p>
<form method="post" action="${BASE}/${id}/remove">${csrfField(reply)}
  <label for="remove_proof">Current code or password</label>
  <input type="password" id="remove_proof" name="proof" autocomplete="current-password" required maxlength="256"${describedBy('proof', errors, 'remove-hint')}>
  <p class="hint" id="remove-hint">Your password, or a code from your authenticator app.</p>
  ${fieldError('proof', errors)}
  <div class="actions"><button type="submit" class="danger">Remove</button><a class="button-link" href="${DASHBOARD.account}">Cancel</a></div>
</form></div>`,
    });
  };

  scope.get(`${BASE}/:id/remove`, async (request, reply) => removePage(request, reply, (request.params as { id: string }).id));

  // Like turning the app off: the password or a current code, throttled, a wrong one a failed sign-in of the address.
  scope.post(`${BASE}/:id/remove`, async (request, reply) =>
    underLoginLimit(secondStep.loginLimit, request, async (wrong) => {
      const user = userOf(request);
      const id = (request.params as { id: string }).id;
      const proven = await proofOf(deps, request, user, field(request.body, 'proof') ?? '', 'turn_off');
      if (proven !== true) {
        if (proven === false) {
          wrong();
          return removePage(request, reply, id, 400, 'That is neither a current code nor your password.');
        }
        reply.header('retry-after', String(proven.waitSeconds));
        return removePage(request, reply, id, 429, tooManyWrong('tries', proven.waitSeconds));
      }
      await passkeys.remove(user.userId, id, request);
      return account(reply, 'removed');
    }),
  );
}
