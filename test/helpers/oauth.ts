import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { call, seedUser, type Seeded, type TestServer } from './server.js';

export const PASSWORD = 'correct horse battery staple';

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface TestClient {
  clientId: string;
  clientSecret: string | null;
  redirectUri: string;
  scopes: string[];
}

export async function registerClient(
  ts: Pick<TestServer, 'api'>,
  owner: Seeded,
  options: { public?: boolean; redirectUris?: string[]; scopes?: string[]; name?: string } = {},
): Promise<TestClient> {
  const redirectUris = options.redirectUris ?? ['https://app.example.com/callback'];
  const scopes = options.scopes ?? ['profile', 'generations', 'characters'];
  const reply = await call('POST', `${ts.api}/oauth/clients`, {
    key: owner.key,
    json: { name: options.name ?? 'Test App', redirectUris, scopes, ...(options.public ? { public: true } : {}) },
  });
  expect(reply.status).toBe(201);
  return { clientId: reply.json.clientId, clientSecret: reply.json.clientSecret, redirectUri: redirectUris[0]!, scopes };
}

/** A cookie-keeping HTTP client standing in for a browser (redirects are not followed). */
export class Agent {
  readonly cookies = new Map<string, string>();
  /** origin: where requests go; publicOrigin: the Origin a browser at PUBLIC_URL sends on form posts. */
  constructor(
    readonly origin: string,
    readonly publicOrigin: string = origin,
  ) {}

  async fetch(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin ??= this.publicOrigin;
    }
    const absolute = url.startsWith('http') ? url : this.origin + url;
    const response = await fetch(absolute, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }
}

export function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no hidden field ${name} in page`);
  return match[1]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

export async function signIn(ts: TestServer, username: string, password = PASSWORD): Promise<Agent> {
  const agent = new Agent(ts.url, ts.config.publicUrl);
  const page = await (await agent.fetch('/login')).text();
  const response = await agent.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username, password } });
  expect(response.status).toBe(303);
  return agent;
}

export interface AuthorizeParams {
  client_id?: string;
  redirect_uri?: string;
  response_type?: string;
  scope?: string;
  state?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  prompt?: string;
  [extra: string]: string | undefined;
}

export function authorizeUrl(ts: Pick<TestServer, 'api'>, params: AuthorizeParams | Array<[string, string]>): string {
  const query = new URLSearchParams();
  const entries = Array.isArray(params) ? params : Object.entries(params);
  for (const [k, v] of entries) if (v !== undefined) query.append(k, v);
  return `${ts.api}/oauth/authorize?${query}`;
}

/** Standard parameters for a client, overridable one by one. */
export function standardParams(client: TestClient, challenge: string, overrides: AuthorizeParams = {}): AuthorizeParams {
  return {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope: 'profile',
    state: 'state-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
}

/** Posts the consent decision found on a consent page. */
export async function decide(agent: Agent, ts: Pick<TestServer, 'api'>, consentHtml: string, decision: 'allow' | 'deny'): Promise<Response> {
  return agent.fetch(`${ts.api}/oauth/authorize/decision`, {
    form: { _csrf: hiddenField(consentHtml, '_csrf'), request_id: hiddenField(consentHtml, 'request_id'), decision },
  });
}

/**
 * An authorization error shown as a page, never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2):
 * 400, the pages' headers (UI-02, UI-03), and the error code named. Returns the page.
 */
export async function expectErrorPage(response: Response, error: string): Promise<string> {
  expect(response.status).toBe(400);
  expect(response.headers.get('location')).toBeNull();
  expect(response.headers.get('content-type')).toContain('text/html');
  expect(response.headers.get('x-frame-options')).toBe('DENY');
  expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  const body = await response.text();
  expect(body).toContain(`<strong>${error}</strong>`);
  return body;
}

/** The "Return to <host>" link of an error or signed-out page, as a URL, or null when there is none. */
export function returnLink(page: string): URL | null {
  const match = /<a href="([^"]*)">Return to [^<]*<\/a>/.exec(page);
  return match ? new URL(match[1]!.replace(/&amp;/g, '&')) : null;
}

/** The whole front channel: authorize, consent if asked, and the code from the redirect. */
export async function obtainCode(
  ts: TestServer,
  agent: Agent,
  client: TestClient,
  overrides: AuthorizeParams = {},
): Promise<{ code: string; verifier: string; location: URL }> {
  const { verifier, challenge } = pkce();
  let response = await agent.fetch(authorizeUrl(ts, standardParams(client, challenge, overrides)));
  if (response.status === 200) response = await decide(agent, ts, await response.text(), 'allow');
  expect(response.status).toBe(303);
  const location = new URL(response.headers.get('location')!);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in ${location}`);
  return { code, verifier, location };
}

export function form(values: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined) params.append(k, v);
  return params.toString();
}

export async function tokenRequest(
  ts: Pick<TestServer, 'api'>,
  body: Record<string, string | undefined> | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const response = await fetch(`${ts.api}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : form(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

export async function userWithSession(ts: TestServer, name?: string): Promise<{ user: Seeded; agent: Agent }> {
  const user = await seedUser(ts, name);
  return { user, agent: await signIn(ts, user.username) };
}

export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}
