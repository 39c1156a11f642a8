import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { basic, form, obtainCode, registerClient, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { postFrom } from '../helpers/loopback.js';
import { call, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

describe.each(DIALECTS)('token lifecycle and the bearer guard (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let client: TestClient;
  let other: TestClient;
  let publicClient: TestClient;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    const session = await userWithSession(ts, `life_${dialect}`);
    owner = session.user;
    agent = session.agent;
    client = await registerClient(ts, owner, { scopes: ['profile', 'generations', 'characters'] });
    other = await registerClient(ts, owner);
    publicClient = await registerClient(ts, owner, { public: true, redirectUris: ['http://127.0.0.1/cb'] });
  });
  afterAll(async () => ts?.close());

  const auth = (c: TestClient) => ({ client_id: c.clientId, client_secret: c.clientSecret ?? undefined });

  async function tokensFor(c: TestClient, scope = 'profile generations') {
    const { code, verifier } = await obtainCode(ts, agent, c, { scope, prompt: 'consent' });
    const reply = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: c.redirectUri, code_verifier: verifier, ...auth(c) });
    expect(reply.status).toBe(200);
    return reply.json as { access_token: string; refresh_token: string; scope: string };
  }

  const refresh = (c: TestClient, refreshToken: string, extra: Record<string, string> = {}) =>
    tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: refreshToken, ...auth(c), ...extra });
  const userinfo = (token: string, headers: Record<string, string> = {}) =>
    call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const revoke = (c: TestClient, token: string, extra: Record<string, string> = {}) => postForm('/oauth/revoke', { token, ...auth(c), ...extra });
  const introspect = (c: TestClient | null, token: string, headers: Record<string, string> = {}) =>
    postForm('/oauth/introspect', { token, ...(c ? auth(c) : {}) }, headers);

  async function postForm(path: string, body: Record<string, string | undefined>, headers: Record<string, string> = {}) {
    const response = await fetch(`${ts.api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined };
  }

  describe.skipIf(!dialectAvailable(dialect))('OAUTH-CASES RT', () => {
    it('RT-01 every refresh returns a new refresh token and consumes the old; the family keeps the original scope', async () => {
      const first = await tokensFor(client, 'profile generations');
      const second = await refresh(client, first.refresh_token);
      expect(second.status).toBe(200);
      expect(second.headers.get('cache-control')).toBe('no-store');
      expect(second.json.refresh_token).toMatch(/^serika_rt_/);
      expect(second.json.refresh_token).not.toBe(first.refresh_token);
      expect(second.json.access_token).not.toBe(first.access_token);
      expect(second.json.scope).toBe('profile generations');
      const narrowed = await refresh(client, second.json.refresh_token, { scope: 'profile' });
      expect(narrowed.json.scope).toBe('profile');
      // The family's refresh token keeps the original scope: a later refresh may ask for it all again.
      const third = await refresh(client, narrowed.json.refresh_token);
      expect(third.json.scope).toBe('profile generations');
      expect((await userinfo(third.json.access_token)).status).toBe(200);
    });

    it('RT-02 replaying a consumed refresh token → invalid_grant and the whole family is revoked, access tokens included', async () => {
      const first = await tokensFor(client);
      const second = await refresh(client, first.refresh_token);
      const replay = await refresh(client, first.refresh_token);
      expect(replay.status).toBe(400);
      expect(replay.json.error).toBe('invalid_grant');
      for (const token of [first.access_token, second.json.access_token]) expect((await userinfo(token)).status).toBe(401);
      expect((await refresh(client, second.json.refresh_token)).json.error).toBe('invalid_grant');
    });

    it('RT-02 20 parallel refreshes with one refresh token: at most one succeeds, and the family is then revoked', async () => {
      const first = await tokensFor(client);
      const replies = await Promise.all(Array.from({ length: 20 }, () => refresh(client, first.refresh_token)));
      const winners = replies.filter((r) => r.status === 200);
      expect(winners.length).toBeLessThanOrEqual(1);
      for (const r of replies.filter((r) => r.status !== 200)) expect(r.json.error).toBe('invalid_grant');
      const family = await ts.services.storage.db
        .selectFrom('oauth_tokens')
        .select(['family_id'])
        .where('token_hash', '=', credentialKey(first.refresh_token))
        .executeTakeFirstOrThrow();
      const live = await ts.services.storage.db
        .selectFrom('oauth_tokens')
        .select('token_hash')
        .where('family_id', '=', family.family_id)
        .where('revoked_at', 'is', null)
        .execute();
      expect(live).toEqual([]);
      for (const w of winners) expect((await userinfo(w.json.access_token)).status).toBe(401);
    });

    it('RT-03 a broader scope → invalid_scope; a narrower one succeeds', async () => {
      const first = await tokensFor(client, 'profile');
      const wider = await refresh(client, first.refresh_token, { scope: 'profile generations' });
      expect(wider.status).toBe(400);
      expect(wider.json.error).toBe('invalid_scope');
      const unknown = await refresh(client, first.refresh_token, { scope: 'admin' });
      expect(unknown.json.error).toBe('invalid_scope');
      const same = await refresh(client, first.refresh_token, { scope: 'profile' });
      expect(same.status).toBe(200);
    });

    it("RT-04 another client's, expired or unknown refresh token → invalid_grant; missing → invalid_request", async () => {
      const mine = await tokensFor(client);
      const stolen = await refresh(other, mine.refresh_token);
      expect(stolen.json.error).toBe('invalid_grant');
      expect((await refresh(client, mine.refresh_token)).status).toBe(200); // untouched by the attempt
      const expiring = await tokensFor(client);
      await ts.services.storage.db.updateTable('oauth_tokens').set({ expires_at: Date.now() - 1 }).where('token_hash', '=', credentialKey(expiring.refresh_token)).execute();
      expect((await refresh(client, expiring.refresh_token)).json.error).toBe('invalid_grant');
      expect((await refresh(client, 'serika_rt_nonsense')).json.error).toBe('invalid_grant');
      expect((await refresh(client, expiring.access_token)).json.error).toBe('invalid_grant');
      const missing = await tokenRequest(ts, { grant_type: 'refresh_token', ...auth(client) });
      expect(missing.status).toBe(400);
      expect(missing.json.error).toBe('invalid_request');
    });

    it('refreshes for a public client with client_id alone', async () => {
      const first = await tokensFor(publicClient, 'profile');
      const next = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: publicClient.clientId });
      expect(next.status).toBe(200);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('OAUTH-CASES RV', () => {
    it('RV-01 own access token → 200 with an empty body; it then fails at every protected endpoint; a wrong hint is ignored', async () => {
      const tokens = await tokensFor(client);
      expect((await userinfo(tokens.access_token)).status).toBe(200);
      const reply = await revoke(client, tokens.access_token, { token_type_hint: 'refresh_token' });
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('');
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect((await userinfo(tokens.access_token)).status).toBe(401);
      // Only the access token: its refresh token still works.
      expect((await refresh(client, tokens.refresh_token)).status).toBe(200);
    });

    it('RV-01 a public client revokes with its client_id alone', async () => {
      const tokens = await tokensFor(publicClient, 'profile');
      const reply = await postForm('/oauth/revoke', { token: tokens.access_token, client_id: publicClient.clientId });
      expect(reply.status).toBe(200);
      expect((await userinfo(tokens.access_token)).status).toBe(401);
    });

    it('RV-02 own refresh token → 200, and the access tokens of its family die too', async () => {
      const tokens = await tokensFor(client);
      const rotated = await refresh(client, tokens.refresh_token);
      expect((await revoke(client, rotated.json.refresh_token, { token_type_hint: 'access_token' })).status).toBe(200);
      expect((await userinfo(tokens.access_token)).status).toBe(401);
      expect((await userinfo(rotated.json.access_token)).status).toBe(401);
      expect((await refresh(client, rotated.json.refresh_token)).json.error).toBe('invalid_grant');
    });

    it('RV-03 unknown or garbage token → 200', async () => {
      for (const token of ['serika_at_unknown', 'garbage', 'x'.repeat(5000)]) {
        expect((await revoke(client, token)).status).toBe(200);
      }
    });

    it("RV-04 another client's token → 400 invalid_request, and the token stays valid", async () => {
      const tokens = await tokensFor(client);
      const reply = await revoke(other, tokens.access_token);
      expect(reply.status).toBe(400);
      expect(reply.json.error).toBe('invalid_request');
      expect((await userinfo(tokens.access_token)).status).toBe(200);
      expect((await revoke(other, tokens.refresh_token)).status).toBe(400);
      expect((await refresh(client, tokens.refresh_token)).status).toBe(200);
    });

    it('RV-05 missing token → invalid_request; bad client auth → 401', async () => {
      const missing = await postForm('/oauth/revoke', { ...auth(client) });
      expect(missing.status).toBe(400);
      expect(missing.json.error).toBe('invalid_request');
      const tokens = await tokensFor(client);
      const wrong = await postForm('/oauth/revoke', { token: tokens.access_token, client_id: client.clientId, client_secret: 'secret_wrong' });
      expect(wrong.status).toBe(401);
      expect(wrong.json.error).toBe('invalid_client');
      const none = await postForm('/oauth/revoke', { token: tokens.access_token, client_id: client.clientId });
      expect(none.status).toBe(401);
      const viaBasic = await postForm('/oauth/revoke', { token: tokens.access_token }, { authorization: basic(client.clientId, 'nope') });
      expect(viaBasic.status).toBe(401);
      expect(viaBasic.headers.get('www-authenticate')).toBe('Basic realm="serika"');
      expect((await userinfo(tokens.access_token)).status).toBe(200);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('OAUTH-CASES IN', () => {
    it('IN-01 no or bad client auth, or a public client → 401 invalid_client', async () => {
      const tokens = await tokensFor(client);
      for (const reply of [
        await introspect(null, tokens.access_token),
        await postForm('/oauth/introspect', { token: tokens.access_token, client_id: client.clientId, client_secret: 'secret_bad' }),
        await postForm('/oauth/introspect', { token: tokens.access_token, client_id: publicClient.clientId }),
        await introspect(null, tokens.access_token, { authorization: basic(client.clientId, 'bad') }),
      ]) {
        expect(reply.status).toBe(401);
        expect(reply.json.error).toBe('invalid_client');
      }
    });

    it('IN-02 garbage, expired, revoked, consumed tokens and codes → {"active":false} and nothing else', async () => {
      const revoked = await tokensFor(client);
      await revoke(client, revoked.access_token);
      const consumed = await tokensFor(client);
      await refresh(client, consumed.refresh_token);
      const expired = await tokensFor(client);
      await ts.services.storage.db.updateTable('oauth_tokens').set({ expires_at: Date.now() - 1 }).where('token_hash', '=', credentialKey(expired.access_token)).execute();
      const { code } = await obtainCode(ts, agent, client, { prompt: 'consent' });
      for (const token of ['garbage', 'serika_at_x', revoked.access_token, consumed.refresh_token, expired.access_token, code]) {
        const reply = await introspect(client, token);
        expect(reply.status).toBe(200);
        expect(reply.json).toEqual({ active: false });
        expect(reply.headers.get('cache-control')).toBe('no-store');
      }
    });

    it("IN-03 another client's token → inactive; an active one → active, scope, client_id, username, sub, exp, iat, token_type", async () => {
      const tokens = await tokensFor(client, 'profile characters');
      expect((await introspect(other, tokens.access_token)).json).toEqual({ active: false });
      const reply = await introspect(client, tokens.access_token);
      const info = (await userinfo(tokens.access_token)).json;
      expect(reply.json).toEqual({
        active: true,
        scope: 'profile characters',
        client_id: client.clientId,
        username: owner.username,
        sub: info.id,
        exp: expect.any(Number),
        iat: expect.any(Number),
        token_type: 'Bearer',
        aud: ts.config.publicUrl,
      });
      expect(reply.json.exp - reply.json.iat).toBe(3600);
      const viaBasic = await introspect(null, tokens.refresh_token, { authorization: basic(client.clientId, client.clientSecret!) });
      expect(viaBasic.json).toMatchObject({ active: true, token_type: 'refresh_token', client_id: client.clientId, sub: info.id });
      expect(viaBasic.json.exp - viaBasic.json.iat).toBe(2_592_000);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('OAUTH-CASES RS (GET /oauth/userinfo)', () => {
    const expectBody = (reply: { json: any }, code: string) => {
      expect(reply.json.error).toEqual({ message: expect.any(String), type: expect.any(String), param: null, code });
    };

    it('answers userinfo with the id, username and avatar of the token’s user', async () => {
      const tokens = await tokensFor(client, 'profile');
      const reply = await userinfo(tokens.access_token);
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ id: owner.userId, username: owner.username, avatar: null });
    });

    it('RS-01 no credentials, or another scheme → 401 with a Bearer challenge without error, naming the scope and the resource metadata (SPEC §8)', async () => {
      for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Token abc' }] as Array<Record<string, string>>) {
        const reply = await call('GET', `${ts.api}/oauth/userinfo`, { headers });
        expect(reply.status).toBe(401);
        expect(reply.headers.get('www-authenticate')).toBe(
          `Bearer realm="serika", scope="profile", resource_metadata="${ts.config.publicUrl}/.well-known/oauth-protected-resource/api/openai/v1"`,
        );
      }
    });

    it('RS-02 expired, revoked, malformed or unknown token → 401 error="invalid_token"', async () => {
      const expired = await tokensFor(client, 'profile');
      await ts.services.storage.db.updateTable('oauth_tokens').set({ expires_at: Date.now() - 1 }).where('token_hash', '=', credentialKey(expired.access_token)).execute();
      const revoked = await tokensFor(client, 'profile');
      await revoke(client, revoked.access_token);
      const refreshAsAccess = await tokensFor(client, 'profile');
      for (const token of [expired.access_token, revoked.access_token, 'serika_at_unknown', 'not-a-token', refreshAsAccess.refresh_token, owner.key]) {
        const reply = await userinfo(token);
        expect(reply.status).toBe(401);
        expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer realm="serika", error="invalid_token"/);
        expectBody(reply, 'invalid_token');
      }
    });

    it('RS-03 a token without the scope → 403 error="insufficient_scope", scope="profile"', async () => {
      const tokens = await tokensFor(client, 'generations');
      const reply = await userinfo(tokens.access_token);
      expect(reply.status).toBe(403);
      expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer realm="serika", error="insufficient_scope", .*scope="profile", resource_metadata="[^"]+\/.well-known\/oauth-protected-resource\/api\/openai\/v1"$/);
      expectBody(reply, 'insufficient_scope');
    });

    it('RS-04 ?access_token= in the query, or access_token in a form body → 400 error="invalid_request", never 2xx', async () => {
      const tokens = await tokensFor(client, 'profile');
      const inQuery = await call('GET', `${ts.api}/oauth/userinfo?access_token=${tokens.access_token}`);
      expect(inQuery.status).toBe(400);
      expect(inQuery.headers.get('www-authenticate')).toMatch(/error="invalid_request"/);
      expectBody(inQuery, 'invalid_request');
      const inForm = await call('POST', `${ts.api}/oauth/userinfo`, {
        body: `access_token=${tokens.access_token}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(inForm.status).toBe(400);
      expect(inForm.headers.get('www-authenticate')).toMatch(/error="invalid_request"/);
      expectBody(inForm, 'invalid_request');
      // The same on a route that only exists as POST.
      const onChat = await call('POST', `${ts.api}/oauth/chat/completions`, {
        body: `access_token=${tokens.access_token}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(onChat.status).toBe(400);
      expectBody(onChat, 'invalid_request');
    });

    it('RS-05 Bearer with no value or with spaces inside, or a token in both header and query → 400 invalid_request', async () => {
      const tokens = await tokensFor(client, 'profile');
      for (const header of ['Bearer', 'Bearer ', `Bearer ${tokens.access_token} extra`, `Bearer a b`, `Bearer ${tokens.access_token}$`]) {
        const reply = await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: header } });
        expect(reply.status, header).toBe(400);
        expect(reply.headers.get('www-authenticate')).toMatch(/error="invalid_request"/);
        expectBody(reply, 'invalid_request');
      }
      const both = await call('GET', `${ts.api}/oauth/userinfo?access_token=${tokens.access_token}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(both.status).toBe(400);
    });

    it('reads the scheme case-insensitively and allows several spaces before the token (RFC 7235 §2.1, RFC 6750 §2.1)', async () => {
      const tokens = await tokensFor(client, 'profile');
      for (const header of [`bearer ${tokens.access_token}`, `BEARER ${tokens.access_token}`, `Bearer  ${tokens.access_token}`]) {
        const reply = await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: header } });
        expect(reply.status, header).toBe(200);
      }
    });
  });
});

describe('rate limits on the token, revocation and introspection endpoints', () => {
  let ts: TestServer;
  let client: TestClient;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { RATE_LIMIT_TOKEN: '5' });
    const { user } = await userWithSession(ts);
    client = await registerClient(ts, user);
  });
  afterAll(async () => ts?.close());

  it('counts per client across IPs: the sixth request of a client in a minute gets 429 with Retry-After', async () => {
    const body = form({ grant_type: 'refresh_token', refresh_token: 'serika_rt_x', client_id: client.clientId, client_secret: client.clientSecret! });
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await postFrom(`127.0.0.${10 + i}`, `${ts.api}/oauth/token`, body));
    expect(replies.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 429]);
    expect(Number(replies[5]!.headers['retry-after'])).toBeGreaterThan(0);
    expect(replies[5]!.headers['cache-control']).toBe('no-store');
  });

  it('counts per IP across clients and endpoints', async () => {
    const statuses: number[] = [];
    const paths = ['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/oauth/token', '/oauth/revoke', '/oauth/token'];
    for (const [i, path] of paths.entries()) {
      statuses.push((await postFrom('127.0.0.50', `${ts.api}${path}`, `client_id=client_${i}&token=x&grant_type=refresh_token`)).status);
    }
    expect(statuses.slice(0, 5).every((s) => s === 401)).toBe(true);
    expect(statuses[5]).toBe(429);
    // Another address is not affected.
    expect((await postFrom('127.0.0.51', `${ts.api}/oauth/revoke`, 'client_id=client_z&token=x')).status).toBe(401);
  });
});

describe('CORS', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite');
  });
  afterAll(async () => ts?.close());

  const preflight = (url: string) =>
    fetch(url, { method: 'OPTIONS', headers: { origin: 'https://spa.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });

  it('answers cross-origin requests at the token, revocation, introspection, metadata and protected endpoints', async () => {
    for (const path of ['/api/openai/v1/oauth/token', '/api/openai/v1/oauth/revoke', '/api/openai/v1/oauth/introspect', '/api/openai/v1/oauth/userinfo', '/.well-known/oauth-authorization-server']) {
      const pre = await preflight(ts.url + path);
      expect(pre.status, path).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    }
    const metadata = await fetch(`${ts.url}/.well-known/oauth-authorization-server`, { headers: { origin: 'https://spa.example.com' } });
    expect(metadata.headers.get('access-control-allow-origin')).toBe('*');
    const userinfo = await fetch(`${ts.api}/oauth/userinfo`, { headers: { origin: 'https://spa.example.com' } });
    expect(userinfo.headers.get('access-control-allow-origin')).toBe('*');
    expect(userinfo.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
  });

  it('never sends CORS headers from the authorization endpoint or the pages', async () => {
    for (const path of ['/api/openai/v1/oauth/authorize', '/api/openai/v1/oauth/authorize/decision', '/login', '/signup', '/logout', '/dashboard']) {
      for (const response of [await preflight(ts.url + path), await fetch(ts.url + path, { headers: { origin: 'https://spa.example.com' }, redirect: 'manual' })]) {
        for (const [name] of response.headers) expect(name.startsWith('access-control-'), `${path} ${name}`).toBe(false);
      }
    }
  });
});
