import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import {
  basic,
  obtainCode,
  registerClient,
  tokenRequest,
  userWithSession,
  type Agent,
  type TestClient,
} from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

describe.each(DIALECTS)('token endpoint, authorization_code grant (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let client: TestClient;
  let publicClient: TestClient;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    const session = await userWithSession(ts, `tk_${dialect}`);
    owner = session.user;
    agent = session.agent;
    client = await registerClient(ts, owner);
    publicClient = await registerClient(ts, owner, { public: true, redirectUris: ['http://127.0.0.1/cb'] });
  });
  afterAll(async () => ts?.close());

  const redeem = (c: TestClient, code: string, verifier: string, extra: Record<string, string | undefined> = {}) =>
    tokenRequest(ts, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: c.redirectUri,
      code_verifier: verifier,
      client_id: c.clientId,
      client_secret: c.clientSecret ?? undefined,
      ...extra,
    });

  const tokenState = async (token: string) => (await ts.services.oauth.tokens.find(token))?.revoked_at;

  function expectOAuthError(reply: { status: number; json: any; headers: Headers }, status: number, error: string) {
    expect(reply.status).toBe(status);
    expect(reply.json.error).toBe(error);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.headers.get('pragma')).toBe('no-cache');
    expect(reply.headers.get('content-type')).toContain('application/json');
    if (reply.json.error_description !== undefined) expect(reply.json.error_description).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
  }

  describe.skipIf(!dialectAvailable(dialect))('OAUTH-CASES TK', () => {
    it('issues access and refresh tokens with distinct prefixes, hashed at rest', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'profile generations' });
      const reply = await redeem(client, code, verifier);
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({
        access_token: expect.stringMatching(/^serika_at_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/),
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: expect.stringMatching(/^serika_rt_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/),
        scope: 'profile generations',
      });
      const rows = await ts.services.storage.db.selectFrom('oauth_tokens').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(reply.json.access_token);
      expect(rows.some((r) => r.token_hash === credentialKey(reply.json.access_token))).toBe(true);
      const codes = await ts.services.storage.db.selectFrom('oauth_codes').selectAll().execute();
      expect(JSON.stringify(codes)).not.toContain(code);
    });

    it('TK-01 every response, errors too: Cache-Control no-store, Pragma no-cache, JSON', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const ok = await redeem(client, code, verifier);
      expect(ok.headers.get('cache-control')).toBe('no-store');
      expect(ok.headers.get('pragma')).toBe('no-cache');
      expect(ok.headers.get('content-type')).toContain('application/json');
      expectOAuthError(await tokenRequest(ts, { grant_type: 'authorization_code' }), 401, 'invalid_client');
    });

    it('TK-02 a second redemption → invalid_grant, and the first redemption’s tokens stop working', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const first = await redeem(client, code, verifier);
      expect(first.status).toBe(200);
      expect(await tokenState(first.json.access_token)).toBeNull();
      expectOAuthError(await redeem(client, code, verifier), 400, 'invalid_grant');
      expect(await tokenState(first.json.access_token)).toEqual(expect.any(Number));
      expect(await tokenState(first.json.refresh_token)).toEqual(expect.any(Number));
    });

    it('TK-03 an expired code → invalid_grant', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      await ts.services.storage.db.updateTable('oauth_codes').set({ expires_at: Date.now() - 1 }).where('code_hash', '=', credentialKey(code)).execute();
      expectOAuthError(await redeem(client, code, verifier), 400, 'invalid_grant');
    });

    it('TK-04 a code issued to another client → invalid_grant', async () => {
      const other = await registerClient(ts, owner);
      const { code, verifier } = await obtainCode(ts, agent, client);
      expectOAuthError(await redeem({ ...other, redirectUri: client.redirectUri }, code, verifier), 400, 'invalid_grant');
      // …and the rightful client can still redeem it.
      expect((await redeem(client, code, verifier)).status).toBe(200);
    });

    it('TK-05 redirect_uri different → invalid_grant; missing → invalid_request', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      expectOAuthError(await redeem(client, code, verifier, { redirect_uri: 'https://app.example.com/other' }), 400, 'invalid_grant');
      expectOAuthError(await redeem(client, code, verifier, { redirect_uri: undefined }), 400, 'invalid_request');
    });

    it('TK-06 missing or wrong code_verifier → invalid_grant', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      expectOAuthError(await redeem(client, code, verifier, { code_verifier: undefined }), 400, 'invalid_grant');
      expectOAuthError(await redeem(client, code, 'w'.repeat(43)), 400, 'invalid_grant');
      expect((await redeem(client, code, verifier)).status).toBe(200);
    });

    it('TK-07 code_verifier not 43–128 unreserved characters → invalid_request', async () => {
      const { code } = await obtainCode(ts, agent, client);
      for (const bad of ['short', 'v'.repeat(129), 'v'.repeat(42) + '!']) {
        expectOAuthError(await redeem(client, code, bad), 400, 'invalid_request');
      }
    });

    it('TK-09 a confidential client with no authentication → 401 invalid_client', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const reply = await redeem(client, code, verifier, { client_secret: undefined });
      expectOAuthError(reply, 401, 'invalid_client');
      expect(reply.headers.get('www-authenticate')).toBeNull();
    });

    it('TK-10 wrong secret or unknown client → 401 invalid_client, with the Basic challenge when Basic was used', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const post = await redeem(client, code, verifier, { client_secret: 'secret_wrong' });
      expectOAuthError(post, 401, 'invalid_client');
      expect(post.headers.get('www-authenticate')).toBeNull();
      const unknown = await redeem(client, code, verifier, { client_id: 'client_unknown', client_secret: 'x' });
      expectOAuthError(unknown, 401, 'invalid_client');
      const viaBasic = await tokenRequest(
        ts,
        { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier },
        { authorization: basic(client.clientId, 'secret_wrong') },
      );
      expectOAuthError(viaBasic, 401, 'invalid_client');
      expect(viaBasic.headers.get('www-authenticate')).toBe('Basic realm="serika"');
      const unknownBasic = await tokenRequest(ts, { grant_type: 'authorization_code', code }, { authorization: basic('client_nope', 'x') });
      expect(unknownBasic.headers.get('www-authenticate')).toBe('Basic realm="serika"');
    });

    it('TK-11 Basic credentials are form-urlencoded before base64; malformed Basic → invalid_request', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const body = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier };
      expect((await tokenRequest(ts, body, { authorization: basic(client.clientId, client.clientSecret!) })).status).toBe(200);
      // RFC 6749 Appendix B's example: characters outside the unreserved set arrive encoded.
      const { parseBasic } = await import('../../src/oauth/protocol/client-auth.js');
      const encoded = 'Basic ' + Buffer.from('an%3Aidentifier:some+secure+%26+non-standard+secret').toString('base64');
      expect(parseBasic(encoded)).toEqual({ id: 'an:identifier', secret: 'some secure & non-standard secret' });
      for (const header of ['Basic', 'Basic !!!!', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Basic ' + Buffer.from('a:%zz').toString('base64')]) {
        expectOAuthError(await tokenRequest(ts, body, { authorization: header }), 400, 'invalid_request');
      }
    });

    it('TK-12 two authentication methods at once → invalid_request', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const reply = await tokenRequest(
        ts,
        { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_secret: client.clientSecret! },
        { authorization: basic(client.clientId, client.clientSecret!) },
      );
      expectOAuthError(reply, 400, 'invalid_request');
    });

    it('TK-13 a public client that sends a secret → invalid_client; with no secret and a valid verifier → 200', async () => {
      const { code, verifier } = await obtainCode(ts, agent, publicClient);
      expectOAuthError(await redeem(publicClient, code, verifier, { client_secret: 'secret_anything' }), 401, 'invalid_client');
      const basicReply = await tokenRequest(
        ts,
        { grant_type: 'authorization_code', code, redirect_uri: publicClient.redirectUri, code_verifier: verifier },
        { authorization: basic(publicClient.clientId, '') },
      );
      expectOAuthError(basicReply, 401, 'invalid_client');
      expect((await redeem(publicClient, code, verifier)).status).toBe(200);
    });

    it('TK-14 missing grant_type → invalid_request; unknown → unsupported_grant_type', async () => {
      const auth = { client_id: client.clientId, client_secret: client.clientSecret! };
      expectOAuthError(await tokenRequest(ts, auth), 400, 'invalid_request');
      expectOAuthError(await tokenRequest(ts, { ...auth, grant_type: 'password' }), 400, 'unsupported_grant_type');
      expectOAuthError(await tokenRequest(ts, { ...auth, grant_type: 'client_credentials' }), 400, 'unsupported_grant_type');
      expectOAuthError(await tokenRequest(ts, { ...auth, grant_type: '__proto__' }), 400, 'unsupported_grant_type');
    });

    it('TK-15 JSON bodies work too; any other type or a malformed body → 400 invalid_request', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const json = await fetch(`${ts.api}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret }),
      });
      expect(json.status).toBe(200);
      const cases: Array<[string, string]> = [
        ['text/plain', 'grant_type=authorization_code'],
        ['application/xml', '<x/>'],
        ['application/json', '{"grant_type":'],
        ['application/json', '{"grant_type":["authorization_code"],"code":1}'],
        ['application/json', '{"grant_type":{"a":1}}'],
        ['application/json', '[1,2]'],
        ['multipart/form-data; boundary=x', '--x--'],
      ];
      for (const [type, body] of cases) {
        const reply = await tokenRequest(ts, body, { 'content-type': type });
        expectOAuthError(reply, 400, 'invalid_request');
      }
    });

    it('TK-16 a repeated parameter → invalid_request; a[b]=c is never parsed into objects', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const base = `grant_type=authorization_code&code=${code}&redirect_uri=${encodeURIComponent(client.redirectUri)}&code_verifier=${verifier}&client_id=${client.clientId}&client_secret=${client.clientSecret}`;
      expectOAuthError(await tokenRequest(ts, `${base}&code=${code}`), 400, 'invalid_request');
      expectOAuthError(await tokenRequest(ts, `${base}&grant_type=authorization_code`), 400, 'invalid_request');
      const nested = await tokenRequest(ts, `grant_type[a]=authorization_code&client_id=${client.clientId}&client_secret=${client.clientSecret}`);
      expectOAuthError(nested, 400, 'invalid_request');
      expect((await tokenRequest(ts, base)).status).toBe(200);
    });

    it('TK-17 error_description is printable ASCII without quotes or backslashes, never raw input', async () => {
      const reply = await tokenRequest(ts, { grant_type: '"\\<é>\u0001', client_id: client.clientId, client_secret: client.clientSecret! });
      expectOAuthError(reply, 400, 'unsupported_grant_type');
      expect(reply.json.error_description).not.toContain('é');
      const { safeDescription } = await import('../../src/oauth/protocol/errors.js');
      expect(safeDescription('a"b\\c\u00e9\n')).toBe('a?b?c??');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('client changes take effect at once', () => {
    it('CM-03 after a reset the old secret → invalid_client; the new one works at once', async () => {
      const c = await registerClient(ts, owner);
      const reset = await call('POST', `${ts.api}/oauth/clients/${c.clientId}/reset-secret`, { key: owner.key });
      const { code, verifier } = await obtainCode(ts, agent, c);
      expectOAuthError(await redeem(c, code, verifier), 401, 'invalid_client');
      expect((await redeem({ ...c, clientSecret: reset.json.clientSecret }, code, verifier)).status).toBe(200);
    });

    it('CM-06 deleting a client revokes its tokens and its codes can no longer be redeemed', async () => {
      const c = await registerClient(ts, owner);
      const first = await obtainCode(ts, agent, c);
      const tokens = await redeem(c, first.code, first.verifier);
      const second = await obtainCode(ts, agent, c);
      expect((await call('DELETE', `${ts.api}/oauth/clients/${c.clientId}`, { key: owner.key })).status).toBe(204);
      expect(await ts.services.oauth.tokens.find(tokens.json.access_token)).toBeUndefined();
      expect(await ts.services.oauth.tokens.find(tokens.json.refresh_token)).toBeUndefined();
      expectOAuthError(await redeem(c, second.code, second.verifier), 401, 'invalid_client');
      expect(await ts.services.oauth.codes.find(second.code)).toBeUndefined();
    });

    it('removing a scope revokes the grants, codes and tokens of the client that hold it', async () => {
      const c = await registerClient(ts, owner, { scopes: ['profile', 'generations'] });
      const withGen = await obtainCode(ts, agent, c, { scope: 'profile generations' });
      const genTokens = await redeem(c, withGen.code, withGen.verifier);
      const profileOnly = await obtainCode(ts, agent, c, { scope: 'profile', prompt: 'consent' });
      const profileTokens = await redeem(c, profileOnly.code, profileOnly.verifier);
      const pendingCode = await obtainCode(ts, agent, c, { scope: 'generations' });
      const patched = await call('PATCH', `${ts.api}/oauth/clients/${c.clientId}`, { key: owner.key, json: { scopes: ['profile'] } });
      expect(patched.status).toBe(200);
      expect(await tokenState(genTokens.json.access_token)).toEqual(expect.any(Number));
      expect(await tokenState(genTokens.json.refresh_token)).toEqual(expect.any(Number));
      expect(await tokenState(profileTokens.json.access_token)).toBeNull();
      expect(await ts.services.grants.find(owner.userId, c.clientId)).toBeUndefined();
      expectOAuthError(await redeem(c, pendingCode.code, pendingCode.verifier), 400, 'invalid_grant');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('concurrency', () => {
    it('20 parallel redemptions of one code: at most one gets tokens, and those are revoked afterwards', async () => {
      const { code, verifier } = await obtainCode(ts, agent, client);
      const replies = await Promise.all(Array.from({ length: 20 }, () => redeem(client, code, verifier)));
      const winners = replies.filter((r) => r.status === 200);
      expect(winners.length).toBeLessThanOrEqual(1);
      for (const loser of replies.filter((r) => r.status !== 200)) expect(loser.json.error).toBe('invalid_grant');
      for (const winner of winners) {
        expect(await tokenState(winner.json.access_token)).toEqual(expect.any(Number));
        expect(await tokenState(winner.json.refresh_token)).toEqual(expect.any(Number));
      }
      const live = await ts.services.storage.db
        .selectFrom('oauth_tokens')
        .select('token_hash')
        .where('code_hash', '=', credentialKey(code))
        .where('revoked_at', 'is', null)
        .execute();
      expect(live).toEqual([]);
    });

    it('with openid, the ID token is signed while the redemption commits: the one winner gets one, bound to its own access token; the losers get none', async () => {
      const oidc = await registerClient(ts, owner, { scopes: ['openid', 'profile'] });
      const { code, verifier } = await obtainCode(ts, agent, oidc, { scope: 'openid profile', nonce: 'n-race' });
      const replies = await Promise.all(Array.from({ length: 20 }, () => redeem(oidc, code, verifier)));
      const winners = replies.filter((r) => r.status === 200);
      expect(winners).toHaveLength(1);
      for (const loser of replies.filter((r) => r.status !== 200)) {
        expect(loser.json.error).toBe('invalid_grant');
        expect(loser.json.id_token).toBeUndefined();
      }
      for (const winner of winners) {
        const claims = JSON.parse(Buffer.from(winner.json.id_token.split('.')[1], 'base64url').toString()) as { at_hash: string; nonce: string };
        expect(claims.nonce).toBe('n-race');
        expect(claims.at_hash).toBe(createHash('sha256').update(winner.json.access_token).digest().subarray(0, 16).toString('base64url'));
      }
    });

    it('a refresh with openid: the new ID token is bound to the new access token, keeps auth_time and carries no nonce', async () => {
      const oidc = await registerClient(ts, owner, { scopes: ['openid', 'profile'] });
      const { code, verifier } = await obtainCode(ts, agent, oidc, { scope: 'openid profile', nonce: 'n-first' });
      const first = await redeem(oidc, code, verifier);
      expect(first.status).toBe(200);
      const refreshed = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token, client_id: oidc.clientId, client_secret: oidc.clientSecret! });
      expect(refreshed.status).toBe(200);
      const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { at_hash: string; nonce?: string; auth_time: number };
      const before = claims(first.json.id_token);
      const after = claims(refreshed.json.id_token);
      expect(after.at_hash).toBe(createHash('sha256').update(refreshed.json.access_token).digest().subarray(0, 16).toString('base64url'));
      expect(after.at_hash).not.toBe(before.at_hash);
      expect(after.auth_time).toBe(before.auth_time);
      expect(after.nonce).toBeUndefined();
    });
  });
});

describe('authorization server metadata', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { PUBLIC_URL: 'https://auth.example.com/' });
  });
  afterAll(async () => ts?.close());

  it('MD-01 issuer equals PUBLIC_URL, no query or fragment', async () => {
    const reply = await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
    expect(reply.status).toBe(200);
    expect(reply.json.issuer).toBe('https://auth.example.com');
  });

  it('MD-02 lists every endpoint and capability', async () => {
    const { json } = await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
    const base = 'https://auth.example.com/api/openai/v1/oauth';
    expect(json).toMatchObject({
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      revocation_endpoint: `${base}/revoke`,
      introspection_endpoint: `${base}/introspect`,
      userinfo_endpoint: `${base}/userinfo`,
      scopes_supported: ['openid', 'profile', 'email', 'generations', 'characters', 'offline_access'],
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      device_authorization_endpoint: `${base}/device_authorization`,
      registration_endpoint: `${base}/register`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      service_documentation: 'https://auth.example.com/docs',
    });
  });
});
