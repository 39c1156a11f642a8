import type { FastifyInstance } from 'fastify';
import type { SessionsService } from '../accounts/sessions.js';
import { html } from './html.js';
import { sendPage } from './layout.js';
import { currentUser } from './session.js';

/** The signed-in landing page; the dashboard issue fills it in. */
export async function dashboardPages(scope: FastifyInstance, deps: { sessions: SessionsService }): Promise<void> {
  scope.get('/', async (_request, reply) => reply.code(303).header('location', '/dashboard').send());

  scope.get('/dashboard', async (request, reply) => {
    const user = await currentUser(request, deps.sessions);
    if (!user) return reply.code(303).header('location', '/login?return_to=%2Fdashboard').send();
    return sendPage(reply, 200, {
      title: 'Dashboard',
      user,
      csrf: reply.generateCsrf(),
      wide: true,
      body: html`<div class="card">
  <h1>Dashboard</h1>
  <p>You are signed in as <strong>${user.username}</strong>.</p>
  <p class="muted">Manage API keys and OAuth clients with the <a href="/docs">client-management API</a>.</p>
</div>`,
    });
  });
}
