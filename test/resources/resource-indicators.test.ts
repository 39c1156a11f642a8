import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { authorizeUrl, basic, decide, form, obtainCode, pkce, registerClient, standardParams, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/** SPEC §8: RFC 9728 metadata, RFC 8707 audiences, and the bearer guard that keeps a token to its resource. */
describe.each(DIALECTS)('protected resources and resource indicators (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let client: TestClient;
  let issuer: string;
  let API: string;
  let MCP: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    issuer = ts.config.publicUrl;
    API = `${issuer}/api/openai/v1`;
    MCP = `${issuer}/mcp`;
    const session = await userWithSession(ts, `aud_${dialect}`);
    owner = session.user;
    agent = session.agent;
    client = await registerClient(ts, owner, { scopes: ['profile', 'generations', 'characters'] });
  });
  afterAll(async () => ts?.close());

  /** The front channel with the given resources, then the code exchange with the token-endpoint resources. */
  async function tokens(authorizeResources: string[], tokenResources: string[] = [], scope = 'profile') {
    const { verifier, challenge } = pkce();
    const params: Array<[string, string]> = [...Object.entries(standardParams(client, challenge, { scope, prompt: 'consent' })) as Array<[string, string]>];
    for (const r of authorizeResources) params.push(['resource', r]);
    let response = await agent.fetch(authorizeUrl(ts, params));
    const page = await response.text();
    expect(response.status, page).toBe(200);
    response = await decide(agent, ts, page, 'allow');
    const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
    const body = new URLSearchParams(form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }));
    for (const r of tokenResources) body.append('resource', r);
    const reply = await tokenRequest(ts, body.toString(), { authorization: basic(client.clientId, client.clientSecret!) });
    return Object.assign(reply, { code, verifier });
  }

  const userinfo = (token: string) => call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } });
  const introspect = (token: string) =>
    fetch(`${ts.api}/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.clientId, client.clientSecret!) },
      body: form({ token }),
    }).then((r) => r.json() as Promise<Record<string, unknown>>);

  describe.skipIf(!dialectAvailable(dialect))('RFC 9728 metadata', () => {
    it('serves the API, the MCP server and the origin, CORS-open', async () => {
      for (const [path, resource, name] of [
        ['/.well-known/oauth-protected-resource/api/openai/v1', () => API, 'Serika API'],
        ['/.well-known/oauth-protected-resource/mcp', () => MCP, 'Serika MCP server'],
        ['/.well-known/oauth-protected-resource', () => issuer, 'Serika'],
      ] as const) {
        const reply = await call('GET', ts.url + path, { headers: { origin: 'https://agent.example' } });
        expect(reply.status).toBe(200);
        expect(reply.headers.get('access-control-allow-origin')).toBe('*');
        expect(reply.json).toEqual({
          resource: resource(),
          authorization_servers: [issuer],
          scopes_supported: ['profile', 'generations', 'characters'],
          bearer_methods_supported: ['header'],
          resource_name: name,
          resource_documentation: `${issuer}/docs`,
        });
      }
    });

    it('the authorization server metadata lists registration, the resources and metadata documents', async () => {
      const { json } = await call('GET', `${ts.url}/.well-known/oauth-authorization-server`);
      expect(json).toMatchObject({
        registration_endpoint: `${API}/oauth/register`,
        protected_resources: [issuer, API, MCP],
        resource_indicators_supported: true,
        client_id_metadata_document_supported: true,
      });
      expect((await call('GET', `${ts.url}/.well-known/openid-configuration`)).json).toEqual(json);
      // A client that keeps the resource's trailing slash finds the same document.
      expect((await call('GET', `${ts.url}/.well-known/oauth-protected-resource/mcp/`)).json.resource).toBe(MCP);
    });

    it('every 401 and 403 names the metadata and the scope, readable by browsers', async () => {
      const reply = await call('GET', `${ts.api}/oauth/characters`, { headers: { origin: 'https://agent.example' } });
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe(`Bearer realm="serika", scope="characters", resource_metadata="${issuer}/.well-known/oauth-protected-resource/api/openai/v1"`);
      expect(reply.headers.get('access-control-expose-headers')).toMatch(/WWW-Authenticate/i);
      const bad = await call('POST', `${ts.api}/oauth/chat/completions`, { headers: { authorization: 'Bearer serika_at_nope' }, json: {} });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_token".*scope="generations", resource_metadata="[^"]+\/api\/openai\/v1"$/);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('RFC 8707 audiences', () => {
    it('no resource: the origin, good at the API; introspection shows aud', async () => {
      const reply = await tokens([]);
      expect(reply.status).toBe(200);
      expect((await userinfo(reply.json.access_token)).status).toBe(200);
      expect(await introspect(reply.json.access_token)).toMatchObject({ active: true, aud: issuer });
    });

    it('a token for the MCP server is refused at the API (401 invalid_token) and shows its aud', async () => {
      const reply = await tokens([MCP]);
      expect(reply.status).toBe(200);
      const refused = await userinfo(reply.json.access_token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="[^"]*another resource[^"]*"/);
      expect(refused.json.error.code).toBe('invalid_token');
      expect(await introspect(reply.json.access_token)).toMatchObject({ active: true, aud: MCP });
    });

    it('a token for the API works there, a trailing slash ignored; several resources give an aud array', async () => {
      const api = await tokens([`${API}/`]);
      expect((await userinfo(api.json.access_token)).status).toBe(200);
      expect(await introspect(api.json.access_token)).toMatchObject({ aud: API });
      const both = await tokens([MCP, API]);
      expect((await userinfo(both.json.access_token)).status).toBe(200);
      expect(await introspect(both.json.access_token)).toMatchObject({ aud: [API, MCP] });
    });

    it('the token endpoint narrows, never widens (invalid_target); the refresh token keeps the grant', async () => {
      const narrowed = await tokens([issuer], [MCP]);
      expect(narrowed.status).toBe(200);
      expect(await introspect(narrowed.json.access_token)).toMatchObject({ aud: MCP });
      expect(await introspect(narrowed.json.refresh_token)).toMatchObject({ aud: issuer });
      expect((await userinfo(narrowed.json.access_token)).status).toBe(401);

      const widened = await tokens([MCP], [API]);
      expect(widened.status).toBe(400);
      expect(widened.json.error).toBe('invalid_target');

      // Refresh: narrow again from the family's audience, or refuse to widen.
      const refreshed = await tokenRequest(ts, form({ grant_type: 'refresh_token', refresh_token: narrowed.json.refresh_token, resource: API }), { authorization: basic(client.clientId, client.clientSecret!) });
      expect(refreshed.status).toBe(200);
      expect((await userinfo(refreshed.json.access_token)).status).toBe(200);
      const mcpOnly = await tokens([MCP]);
      const wider = await tokenRequest(ts, form({ grant_type: 'refresh_token', refresh_token: mcpOnly.json.refresh_token, resource: API }), { authorization: basic(client.clientId, client.clientSecret!) });
      expect(wider.status).toBe(400);
      expect(wider.json.error).toBe('invalid_target');
    });

    it('a redemption that widens is refused before its code is used: the code then redeems as granted', async () => {
      const widened = await tokens([MCP], [API], 'openid profile');
      expect(widened.status).toBe(400);
      expect(widened.json.error).toBe('invalid_target');
      const again = await tokenRequest(ts, form({ grant_type: 'authorization_code', code: widened.code, redirect_uri: client.redirectUri, code_verifier: widened.verifier }), {
        authorization: basic(client.clientId, client.clientSecret!),
      });
      expect(again.status).toBe(200);
      expect(typeof again.json.id_token).toBe('string');
      expect(await introspect(again.json.access_token)).toMatchObject({ aud: MCP });
    });

    it('an unknown or malformed resource at authorize → invalid_target by redirect; at the token endpoint → 400', async () => {
      for (const resource of ['https://evil.example.com/mcp', `${issuer}/admin`, 'not a uri', `${MCP}#frag`]) {
        const { challenge } = pkce();
        const response = await agent.fetch(authorizeUrl(ts, [...(Object.entries(standardParams(client, challenge)) as Array<[string, string]>), ['resource', resource]]));
        expect(response.status).toBe(303);
        const location = new URL(response.headers.get('location')!);
        expect(location.searchParams.get('error')).toBe('invalid_target');
        expect(location.searchParams.get('state')).toBe('state-123');
      }
      const { code, verifier } = await obtainCode(ts, agent, client, { prompt: 'consent' });
      const reply = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, resource: 'https://evil.example.com/' }), {
        authorization: basic(client.clientId, client.clientSecret!),
      });
      expect(reply.status).toBe(400);
      expect(reply.json.error).toBe('invalid_target');
    });

    it('a resource with . or .. path segments (raw, percent-encoded or behind a backslash) → invalid_target, never the path it resolves to', async () => {
      // Each resolves to /mcp (or /mcp/) when parsed as a URL.
      const dotted = [`${API}/../../../mcp`, `${issuer}/./mcp`, `${MCP}/.`, `${API}/%2e%2E/%2E%2e/%2e%2e/mcp`, `${API}/%2e%2e/%2e%2e/%2e%2e/mcp/`, `${issuer}/api\\..\\mcp`];
      for (const resource of dotted) {
        const { challenge } = pkce();
        const response = await agent.fetch(authorizeUrl(ts, [...(Object.entries(standardParams(client, challenge)) as Array<[string, string]>), ['resource', resource]]));
        expect(response.status, resource).toBe(303);
        const location = new URL(response.headers.get('location')!);
        expect(location.searchParams.get('error'), resource).toBe('invalid_target');
        expect(location.searchParams.get('error_description')).toContain('path segments');
      }
      const { code, verifier } = await obtainCode(ts, agent, client, { prompt: 'consent' });
      const reply = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, resource: `${API}/../../../mcp` }), {
        authorization: basic(client.clientId, client.clientSecret!),
      });
      expect(reply.status).toBe(400);
      expect(reply.json.error).toBe('invalid_target');
    });

    it('the consent page names what the app will reach; a stored grant is reused only when it covers the resource', async () => {
      const { challenge } = pkce();
      const page = await (await agent.fetch(authorizeUrl(ts, [...(Object.entries(standardParams(client, challenge, { prompt: 'consent' })) as Array<[string, string]>), ['resource', MCP]]))).text();
      expect(page).toContain('Serika MCP server');
      expect(page).not.toContain('Serika API');
      const all = await (await agent.fetch(authorizeUrl(ts, standardParams(client, challenge, { prompt: 'consent' })))).text();
      expect(all).toContain('Serika API and Serika MCP server');
    });
  });
});
