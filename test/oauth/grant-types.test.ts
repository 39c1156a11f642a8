import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { hiddenField, obtainCode, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * "May this client use this grant", once at the token endpoint for every grant, refresh_token included
 * (RFC 6749 §5.2 unauthorized_client), and the registration response and client objects telling the
 * truth about it (SPEC §8, §9; RFC 6749 §5.1: refresh_token is optional).
 */
describe.each(DIALECTS)('grant types (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', RATE_LIMIT_REGISTER: '0' });
    ({ user: owner, agent } = await userWithSession(ts, `granttypes_${dialect}`));
  });
  afterAll(async () => ts?.close());

  const register = async (extra: Record<string, unknown>): Promise<{ client: TestClient; json: any }> => {
    const reply = await call('POST', `${ts.api}/oauth/register`, { json: { client_name: 'Agent', redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none', scope: 'profile', ...extra } });
    expect(reply.status).toBe(201);
    return { client: { clientId: reply.json.client_id, clientSecret: null, redirectUri: 'http://127.0.0.1/cb', scopes: ['profile'] }, json: reply.json };
  };
  const owned = async (grantTypes?: string[]): Promise<{ client: TestClient; json: any }> => {
    const reply = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name: 'Owned', redirectUris: ['http://127.0.0.1/cb'], scopes: ['profile'], public: true, ...(grantTypes ? { grantTypes } : {}) } });
    expect(reply.status).toBe(201);
    return { client: { clientId: reply.json.clientId, clientSecret: null, redirectUri: 'http://127.0.0.1/cb', scopes: ['profile'] }, json: reply.json };
  };
  const codeTokens = async (client: TestClient) => {
    const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'profile' });
    const tokens = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId });
    expect(tokens.status).toBe(200);
    return tokens.json;
  };
  const refresh = (client: TestClient, token: string) => tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: token, client_id: client.clientId });
  /** A refresh token issued to the client through the services, as one issued before its grant types changed would be. */
  const forged = async (client: TestClient) =>
    (await ts.services.oauth.issuance.issue(ts.services.storage.db, { clientId: client.clientId, userId: owner.userId, scopes: ['profile'] }, `fam_forged_${client.clientId}`, null)).refresh_token!;
  const userinfo = async (access: string) => (await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${access}` } })).status;
  const familyRows = async (access: string) => {
    const row = (await ts.services.oauth.tokens.find(access))!;
    return ts.services.storage.db.selectFrom('oauth_tokens').select('kind').where('family_id', '=', row.family_id).execute();
  };

  describe.skipIf(!dialectAvailable(dialect))('token endpoint and registration', () => {
    it('a client registered with grant_types ["authorization_code"] is told so, gets no refresh token and may not refresh', async () => {
      const { client, json } = await register({ grant_types: ['authorization_code'] });
      expect(json.grant_types).toEqual(['authorization_code']);
      const tokens = await codeTokens(client);
      expect(tokens.access_token).toMatch(/^serika_at_/);
      expect(tokens).not.toHaveProperty('refresh_token');
      expect(await userinfo(tokens.access_token)).toBe(200);
      // Only the access token is stored: no refresh token nobody holds.
      expect(await familyRows(tokens.access_token)).toEqual([{ kind: 'access' }]);
      const refused = await refresh(client, await forged(client));
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('unauthorized_client');
    });

    it('a client registered without grant_types gets SPEC §9 default, echoed, and refreshes', async () => {
      const { client, json } = await register({});
      expect(json.grant_types).toEqual(['authorization_code', 'refresh_token']);
      const tokens = await codeTokens(client);
      expect(tokens.refresh_token).toMatch(/^serika_rt_/);
      const refreshed = await refresh(client, tokens.refresh_token);
      expect(refreshed.status).toBe(200);
      expect(refreshed.json.refresh_token).toMatch(/^serika_rt_/);
      expect(await userinfo(refreshed.json.access_token)).toBe(200);
    });

    it('a client of the REST API with grantTypes lacking refresh_token likewise; adding it brings refresh tokens back', async () => {
      const { client, json } = await owned(['authorization_code']);
      expect(json.grantTypes).toEqual(['authorization_code']);
      const tokens = await codeTokens(client);
      expect(tokens).not.toHaveProperty('refresh_token');
      const refused = await refresh(client, await forged(client));
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('unauthorized_client');

      const patched = await call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: owner.key, json: { grantTypes: ['authorization_code', 'refresh_token'] } });
      expect(patched.json.grantTypes).toEqual(['authorization_code', 'refresh_token']);
      const again = await codeTokens(client);
      expect((await refresh(client, again.refresh_token)).status).toBe(200);
    });

    it('the dashboard edit keeps a client without refresh_token without it, and the default with it', async () => {
      const { client } = await owned(['authorization_code']);
      const { client: standard } = await owned();
      for (const [c, expected] of [
        [client, ['authorization_code']],
        [standard, ['authorization_code', 'refresh_token']],
      ] as const) {
        const page = await (await agent.fetch(`/dashboard/clients/${c.clientId}`)).text();
        const saved = await agent.fetch(`/dashboard/clients/${c.clientId}`, { form: { _csrf: hiddenField(page, '_csrf'), name: 'Renamed', redirect_uri: 'http://127.0.0.1/cb', scope: 'profile', id_token_signing_alg: 'RS256' } });
        expect(saved.status).toBe(200);
        const read = await call('GET', `${ts.api}/oauth/clients/${c.clientId}`, { key: owner.key });
        expect(read.json).toMatchObject({ name: 'Renamed', grantTypes: expected });
      }
    });

    it.each([
      ['authorization_code without response type code', { grant_types: ['authorization_code'], response_types: [] }],
      ['response type code without authorization_code', { grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], response_types: ['code'] }],
    ])('RFC 7591 §2.1: %s → 400 invalid_client_metadata', async (_name, body) => {
      const reply = await call('POST', `${ts.api}/oauth/register`, { json: { redirect_uris: ['http://127.0.0.1/cb'], ...body } });
      expect(reply.status).toBe(400);
      expect(reply.json.error).toBe('invalid_client_metadata');
    });

    it('a device-only registration (no response types) is accepted and echoed as such', async () => {
      const { json } = await register({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] });
      expect(json).toMatchObject({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], response_types: [] });
    });
  });
});
