import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sessionHandle, type Ending, type SessionsService, type SessionUser } from '../accounts/sessions.js';
import type { AuthMethod } from '../accounts/auth-methods.js';
import type { PendingSignIn, PendingSignIns } from '../accounts/pending-sign-ins.js';
import { field } from '../http/form-body.js';
import { randomSecret, sha256Hex } from '../security/secrets.js';
import { identify } from '../http/request-context.js';

/**
 * The browser side of sign-in sessions: the session cookie, and the CSRF
 * token bound to it. Cookie names carry the `__Host-` prefix when PUBLIC_URL
 * is https (Secure, Path=/, no Domain: no other app on the host can set them)
 * and a `serika_` name always, so they never collide with other apps'
 * cookies on a shared host such as 127.0.0.1.
 */
export class PageSessions {
  readonly secure: boolean;
  readonly sessionCookie: string;
  readonly csrfCookie: string;
  /** The half-session between the password and the second step (SPEC §11). */
  readonly pendingCookie: string;
  /** What binds a passkey sign-in's challenge to the browser that asked for it, before any session exists. */
  readonly passkeyCookie: string;
  /** A session started during this request, before the browser has its cookie. */
  private readonly started = new WeakMap<FastifyRequest, string>();
  /** Likewise a half-session. */
  private readonly startedPending = new WeakMap<FastifyRequest, string>();
  /** The CSRF token a reply's page already carries (csrf()). */
  private readonly tokens = new WeakMap<FastifyReply, { binding: string; token: string }>();

  constructor(
    private readonly sessions: SessionsService,
    publicUrl: string,
    private readonly pending: PendingSignIns,
  ) {
    this.secure = publicUrl.startsWith('https:');
    const prefix = this.secure ? '__Host-' : '';
    this.sessionCookie = `${prefix}serika_session`;
    this.csrfCookie = `${prefix}serika_csrf`;
    this.pendingCookie = `${prefix}serika_pending`;
    this.passkeyCookie = `${prefix}serika_passkey`;
  }

  private id(request: FastifyRequest): string | undefined {
    return this.started.get(request) ?? request.cookies[this.sessionCookie];
  }

  private pendingId(request: FastifyRequest): string | undefined {
    return this.startedPending.get(request) ?? request.cookies[this.pendingCookie];
  }

  /**
   * SPEC §11: the password is right and a second step is due. The browser gets a short-lived
   * half-session of its own (not a session: no page but the second step's reads it).
   */
  async startPending(request: FastifyRequest, reply: FastifyReply, sign: PendingSignIn): Promise<void> {
    const pending = await this.pending.start(sign, request.cookies[this.pendingCookie]);
    this.startedPending.set(request, pending.id);
    reply.setCookie(this.pendingCookie, pending.id, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure, expires: new Date(pending.expiresAt) });
  }

  /** The half-session of this request, or null. */
  async pendingSignIn(request: FastifyRequest): Promise<PendingSignIn | null> {
    const id = this.pendingId(request);
    return id ? ((await this.pending.find(id)) ?? null) : null;
  }

  /** Takes a code try of the half-session (PendingSignIns.takeCodeTry): the tries left after it, or null when it had none. */
  async takeCodeTry(request: FastifyRequest): Promise<number | null> {
    const id = this.pendingId(request);
    return id ? this.pending.takeCodeTry(id) : null;
  }

  /** Ends the half-session (the step was passed, or abandoned). */
  async endPending(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const id = this.pendingId(request);
    if (id) await this.pending.end(id);
    reply.clearCookie(this.pendingCookie, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure });
  }

  /** The signed-in user of this request, or null. */
  async user(request: FastifyRequest): Promise<SessionUser | null> {
    const id = this.id(request);
    const user = id ? ((await this.sessions.find(id)) ?? null) : null;
    if (user) identify(request.log, { userId: user.userId });
    return user;
  }

  /** SPEC §12: refuses a suspended user before any step of a sign-in (SessionsService.refuseSuspended). */
  async refuseSuspended(userId: string): Promise<void> {
    await this.sessions.refuseSuspended(userId);
  }

  /**
   * The signed-in admin passed the admin pages' own check (SPEC §12: a second factor, or the password when they
   * have none). Only web/admin/reauth.ts calls this: no other proof given anywhere else may open the console.
   */
  async markReauthenticated(request: FastifyRequest): Promise<void> {
    const id = this.id(request);
    if (id) await this.sessions.markReauthenticated(id);
  }

  /** Whether the signed-in user may make an account change without giving a proof again (accounts/recent-auth.ts). */
  recentlyAuthenticated(user: SessionUser): boolean {
    return this.sessions.recentlyAuthenticated(user);
  }

  /**
   * The signed-in user gave their password or a current code again for an account change (recent-auth.ts); `user`,
   * this request's copy of the session, is updated too, so the page this request renders already knows.
   */
  async markConfirmed(request: FastifyRequest, user: SessionUser): Promise<void> {
    const id = this.id(request);
    if (id) user.confirmedAt = await this.sessions.markConfirmed(id);
  }

  /**
   * UI-06: a new session id at every sign-in (the previous one ends), and a
   * new CSRF secret with it (the old cookie is dropped). SPEC §2: HttpOnly,
   * SameSite=Lax, Secure when PUBLIC_URL is https.
   */
  async signIn(request: FastifyRequest, reply: FastifyReply, userId: string, amr?: readonly AuthMethod[], carried?: { authTime: number }): Promise<void> {
    const from = { userAgent: request.headers['user-agent'], ip: request.ip };
    const session = await this.sessions.start(userId, request.cookies[this.sessionCookie], from, amr, carried);
    this.started.set(request, session.id);
    reply.setCookie(this.sessionCookie, session.id, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure, expires: new Date(session.expiresAt) });
    reply.clearCookie(this.csrfCookie, { path: '/', httpOnly: true, sameSite: 'strict', secure: this.secure });
  }

  /** Ends this browser's session (if any; audited as "session ended", SPEC §11) and drops both cookies. */
  async signOut(request: FastifyRequest, reply: FastifyReply, clientId: string | null = null): Promise<void> {
    const id = request.cookies[this.sessionCookie];
    if (id) await this.sessions.signOut(id, request, clientId);
    this.dropCookies(reply);
  }

  /** This browser's session as the Account page names it (sessionHandle), if it has one. */
  handle(request: FastifyRequest): string | undefined {
    const id = this.id(request);
    return id ? sessionHandle(sha256Hex(id)) : undefined;
  }

  /** The signed-in user ends sessions of theirs from the Account page: one other, every other, or all. */
  async endSessions(request: FastifyRequest, userId: string, which: Ending): Promise<void> {
    const id = this.id(request);
    await this.sessions.endForUser(userId, id ? sha256Hex(id) : null, which, request);
  }

  dropCookies(reply: FastifyReply): void {
    reply.clearCookie(this.sessionCookie, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure });
    reply.clearCookie(this.pendingCookie, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure });
    reply.clearCookie(this.csrfCookie, { path: '/', httpOnly: true, sameSite: 'strict', secure: this.secure });
  }

  /** What a CSRF token is bound to: this request's session (a hash of it), else its half-session, or no session. */
  binding(request: FastifyRequest): string {
    const id = this.id(request);
    if (id) return sha256Hex(id);
    const pending = this.pendingId(request);
    return pending ? `pending:${sha256Hex(pending)}` : 'no-session';
  }

  /**
   * The binding of a passkey sign-in's challenge (SPEC §11): a random id in a cookie of its own, set when the
   * options are asked for and kept for the next ones, so only the browser that got a challenge can answer it.
   * Null when the browser has none (an answer without options).
   */
  passkeyBinding(request: FastifyRequest, reply?: FastifyReply): string | null {
    let id = request.cookies[this.passkeyCookie];
    if ((!id || id.length !== 43) && reply) {
      id = randomSecret('');
      reply.setCookie(this.passkeyCookie, id, { path: '/', httpOnly: true, sameSite: 'strict', secure: this.secure, maxAge: 3600 });
    }
    return id && id.length === 43 ? `passkey:${sha256Hex(id)}` : null;
  }

  /**
   * A CSRF token for a form on this reply's page, valid only with this session. One per reply and binding: with no
   * secret cookie yet (the first page after signing in), each generateCsrf makes a new secret and only the last
   * cookie survives, so a page asking twice (its form, then the layout) would carry a token the cookie cannot check.
   */
  csrf(reply: FastifyReply): string {
    const binding = this.binding(reply.request);
    const made = this.tokens.get(reply);
    if (made?.binding === binding) return made.token;
    const token = reply.generateCsrf({ userInfo: binding });
    this.tokens.set(reply, { binding, token });
    return token;
  }
}

const BASE = 'http://serika.invalid';

/**
 * UI-06: where to go after signing in: a same-origin relative path only,
 * never `//host`, `/\host` or anything with a scheme (no open redirect).
 * Returned in its ASCII serialization (path and query), so it can always go
 * into a Location header.
 */
export function safeReturnTo(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 4096) return null;
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return null;
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(value)) return null;
  try {
    const resolved = new URL(value, BASE);
    if (resolved.origin !== BASE) return null;
    const path = resolved.pathname + resolved.search;
    return path.startsWith('//') ? null : path;
  } catch {
    return null;
  }
}

class CrossSiteRequestError extends Error {
  readonly statusCode = 403;
  readonly code = 'SERIKA_CROSS_SITE';
}

/**
 * UI-01 (RFC 6749 §10.12): a form POST from another site is refused before
 * anything else, whatever token it carries. Browsers say so in
 * Sec-Fetch-Site; Origin is checked too, except `null`, which our own pages
 * produce (Referrer-Policy: no-referrer makes Chromium send `Origin: null`).
 */
function assertSameOrigin(request: FastifyRequest, publicUrl: string): void {
  const fetchSite = request.headers['sec-fetch-site'];
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') {
    throw new CrossSiteRequestError('Cross-site form submissions are refused.');
  }
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') return;
  // PUBLIC_URL's origin only: the Host header is the client's to choose.
  if (origin !== new URL(publicUrl).origin) throw new CrossSiteRequestError('Cross-site form submissions are refused.');
}

/**
 * Every form POST of a scope (pages, consent, dashboard): the same-origin
 * check first, before the body is even validated, then the CSRF token
 * (RFC 6749 §10.12, UI-01).
 */
export function protectFormPosts(scope: FastifyInstance, publicUrl: string): void {
  scope.addHook('preValidation', async (request) => {
    if (guarded(request)) assertSameOrigin(request, publicUrl);
  });
  scope.addHook('preHandler', (request, reply, done) => {
    if (guarded(request)) scope.csrfProtection(request, reply, done);
    else done();
  });
}

/**
 * Every POST is guarded, except the one kind a route may opt into with
 * `config: { crossSiteForm: true }`: a form another site posts (RP-initiated
 * logout), carrying no CSRF token, which only shows a confirmation page and
 * changes nothing. The confirmation it leads to carries a token and is guarded.
 */
function guarded(request: FastifyRequest): boolean {
  if (request.method !== 'POST') return false;
  const crossSite = (request.routeOptions.config as { crossSiteForm?: boolean } | undefined)?.crossSiteForm === true;
  return !(crossSite && field(request.body, '_csrf') === undefined);
}
