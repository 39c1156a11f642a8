import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionsService, SessionUser } from '../accounts/sessions.js';

export const SESSION_COOKIE = 'serika_session';

/** The signed-in user of this request, or null. */
export async function currentUser(request: FastifyRequest, sessions: SessionsService): Promise<SessionUser | null> {
  const id = request.cookies[SESSION_COOKIE];
  if (!id) return null;
  return (await sessions.find(id)) ?? null;
}

/** SPEC §2: HttpOnly, SameSite=Lax, Secure when PUBLIC_URL is https. */
export function setSessionCookie(reply: FastifyReply, id: string, expiresAt: number, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, id, { path: '/', httpOnly: true, sameSite: 'lax', secure, expires: new Date(expiresAt) });
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
}

/**
 * UI-06: where to go after signing in: a same-origin relative path only,
 * never `//host`, `/\host` or anything with a scheme (no open redirect).
 */
export function safeReturnTo(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 4096) return null;
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return null;
  if (/\p{Cc}/u.test(value)) return null;
  try {
    const resolved = new URL(value, 'http://serika.invalid');
    if (resolved.origin !== 'http://serika.invalid') return null;
  } catch {
    return null;
  }
  return value;
}

export class CrossSiteRequestError extends Error {
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
  const own = new Set([new URL(publicUrl).origin, `${request.protocol}://${request.headers.host ?? ''}`]);
  if (!own.has(origin)) throw new CrossSiteRequestError('Cross-site form submissions are refused.');
}

/**
 * Every form POST of a scope (pages, consent, dashboard): the same-origin
 * check first, before the body is even validated, then the CSRF token
 * (RFC 6749 §10.12, UI-01).
 */
export function protectFormPosts(scope: FastifyInstance, publicUrl: string): void {
  scope.addHook('preValidation', async (request) => {
    if (request.method === 'POST') assertSameOrigin(request, publicUrl);
  });
  scope.addHook('preHandler', (request, reply, done) => {
    if (request.method === 'POST') scope.csrfProtection(request, reply, done);
    else done();
  });
}
