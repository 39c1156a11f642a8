import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoginThrottle } from '../accounts/login-throttle.js';
import type { SessionsService, SessionUser } from '../accounts/sessions.js';
import type { UsersService } from '../accounts/users-service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { field } from '../http/form-body.js';
import { html } from './html.js';
import { sendPage } from './layout.js';
import { SESSION_COOKIE, clearSessionCookie, currentUser, protectFormPosts, safeReturnTo, setSessionCookie } from './session.js';

export interface AccountsPagesDeps {
  config: Config;
  users: UsersService;
  sessions: SessionsService;
  throttle: LoginThrottle;
}

interface FormState {
  username?: string;
  email?: string;
  error?: string;
  returnTo: string | null;
}

function returnField(returnTo: string | null) {
  return returnTo ? html`<input type="hidden" name="return_to" value="${returnTo}">` : '';
}

function withReturn(path: string, returnTo: string | null): string {
  return returnTo ? `${path}?return_to=${encodeURIComponent(returnTo)}` : path;
}

function loginPage(reply: FastifyReply, status: number, state: FormState): FastifyReply {
  return sendPage(reply, status, {
    title: 'Sign in',
    body: html`<div class="card">
  <h1>Sign in to Serika</h1>
  ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ''}
  <form method="post" action="/login">
    <input type="hidden" name="_csrf" value="${reply.generateCsrf()}">
    ${returnField(state.returnTo)}
    <label for="username">Username</label>
    <input type="text" id="username" name="username" autocomplete="username" required maxlength="64" value="${state.username ?? ''}" autofocus>
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="current-password" required maxlength="256">
    <div class="actions"><button type="submit">Sign in</button></div>
  </form>
  <p class="hint">No account yet? <a href="${withReturn('/signup', state.returnTo)}">Create account</a></p>
</div>`,
  });
}

function signupPage(reply: FastifyReply, status: number, state: FormState): FastifyReply {
  return sendPage(reply, status, {
    title: 'Create account',
    body: html`<div class="card">
  <h1>Create your Serika account</h1>
  ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ''}
  <form method="post" action="/signup">
    <input type="hidden" name="_csrf" value="${reply.generateCsrf()}">
    ${returnField(state.returnTo)}
    <label for="username">Username</label>
    <input type="text" id="username" name="username" autocomplete="username" required minlength="3" maxlength="32" pattern="[A-Za-z0-9_.\\-]{3,32}" value="${state.username ?? ''}" aria-describedby="username-hint" autofocus>
    <p class="hint" id="username-hint">3–32 letters, digits, “_”, “.” or “-”.</p>
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="new-password" required minlength="8" maxlength="256" aria-describedby="password-hint">
    <p class="hint" id="password-hint">At least 8 characters.</p>
    <label for="email">Email <span class="muted">(optional)</span></label>
    <input type="email" id="email" name="email" autocomplete="email" maxlength="320" value="${state.email ?? ''}">
    <div class="actions"><button type="submit">Create account</button></div>
  </form>
  <p class="hint">Already have an account? <a href="${withReturn('/login', state.returnTo)}">Sign in</a></p>
</div>`,
  });
}

function signupClosed(reply: FastifyReply): FastifyReply {
  return sendPage(reply, 403, {
    title: 'Sign-up closed',
    body: html`<div class="card"><h1>Sign-up is closed</h1><p>New accounts are created by the administrator on this server.</p><p><a href="/login">Sign in</a></p></div>`,
  });
}

export async function accountsPages(scope: FastifyInstance, deps: AccountsPagesDeps): Promise<void> {
  const { config, users, sessions, throttle } = deps;
  const secure = config.publicUrl.startsWith('https:');
  const perIp: FastifyContextConfig = config.rateLimitLogin > 0 ? { rateLimit: { max: config.rateLimitLogin, timeWindow: '1 minute' } } : {};

  protectFormPosts(scope, config.publicUrl);

  const signIn = async (request: FastifyRequest, reply: FastifyReply, user: { id: string }, returnTo: string | null) => {
    const session = await sessions.start(user.id, request.cookies[SESSION_COOKIE]);
    setSessionCookie(reply, session.id, session.expiresAt, secure);
    return reply.code(303).header('location', returnTo ?? '/dashboard').send();
  };
  const alreadySignedIn = (user: SessionUser | null, returnTo: string | null, reply: FastifyReply) =>
    user ? reply.code(303).header('location', returnTo ?? '/dashboard').send() : null;

  scope.get('/login', async (request, reply) => {
    const returnTo = safeReturnTo((request.query as Record<string, unknown>).return_to);
    return alreadySignedIn(await currentUser(request, sessions), returnTo, reply) ?? loginPage(reply, 200, { returnTo });
  });

  scope.post('/login', { config: perIp }, async (request, reply) => {
    const returnTo = safeReturnTo(field(request.body, 'return_to'));
    const username = field(request.body, 'username');
    const password = field(request.body, 'password');
    if (!username || !password) return loginPage(reply, 400, { returnTo, username, error: 'Enter your username and password.' });
    // UI-05: slowed more and more per username; the same path for unknown users and wrong passwords.
    const delay = await throttle.delayFor(username);
    if (delay > 0) await sleep(delay);
    const user = await users.verifyCredentials(username, password);
    if (!user) {
      await throttle.recordFailure(username);
      return loginPage(reply, 401, { returnTo, username, error: 'Incorrect username or password.' });
    }
    await throttle.clear(username);
    return signIn(request, reply, user, returnTo);
  });

  scope.get('/signup', async (request, reply) => {
    if (config.signup === 'closed') return signupClosed(reply);
    const returnTo = safeReturnTo((request.query as Record<string, unknown>).return_to);
    return alreadySignedIn(await currentUser(request, sessions), returnTo, reply) ?? signupPage(reply, 200, { returnTo });
  });

  scope.post('/signup', { config: perIp }, async (request, reply) => {
    if (config.signup === 'closed') return signupClosed(reply);
    const returnTo = safeReturnTo(field(request.body, 'return_to'));
    const username = field(request.body, 'username') ?? '';
    const email = field(request.body, 'email');
    try {
      const user = await users.create({ username, password: field(request.body, 'password') ?? '', email: email ?? null });
      return await signIn(request, reply, user, returnTo);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return signupPage(reply, error.status === 409 ? 409 : 400, { returnTo, username, email, error: error.message });
    }
  });

  scope.post('/logout', async (request, reply) => {
    const id = request.cookies[SESSION_COOKIE];
    if (id) await sessions.end(id);
    clearSessionCookie(reply, secure);
    return reply.code(303).header('location', '/login').send();
  });

}
