import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { form, userWithSession } from '../helpers/oauth.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';

/** Every protected endpoint × tokens with and without its scope, revoked and expired (SPEC §5). */
const ENDPOINTS: Array<{ method: string; path: string; scope: string; json?: unknown }> = [
  { method: 'GET', path: '/oauth/userinfo', scope: 'profile' },
  { method: 'POST', path: '/oauth/chat/completions', scope: 'generations', json: { model: 'test-model', messages: [] } },
  { method: 'POST', path: '/oauth/images/generations', scope: 'generations', json: { model: 'img', prompt: 'x' } },
  { method: 'GET', path: '/oauth/models', scope: 'generations' },
  // SPEC §14.
  { method: 'POST', path: '/oauth/responses', scope: 'generations', json: { model: 'test-model', input: 'x' } },
  { method: 'GET', path: '/oauth/responses/:response', scope: 'generations' },
  { method: 'POST', path: '/oauth/embeddings', scope: 'generations', json: { model: 'embed', input: 'x' } },
  { method: 'GET', path: '/oauth/characters', scope: 'characters' },
  { method: 'GET', path: '/oauth/characters/:own', scope: 'characters' },
];
const SCOPES = ['profile', 'generations', 'characters'];

describe('the scope matrix of protected endpoints', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  const tokens: Record<string, string> = {};
  let revoked: string;
  let expired: string;
  let characterId: string;
  /** A response the app made for the user: any of its tokens may read it. */
  let responseId: string;
  const url = (path: string) => ts.api + path.replace(':own', characterId).replace(':response', responseId);

  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, RATE_LIMIT_TOKEN: '0' });
    const { user, agent } = await userWithSession(ts);
    const client = await clientWithAllScopes(ts, user);
    characterId = (await ts.services.characters.create(user.userId, { name: 'Mira' })).id;
    for (const scope of SCOPES) tokens[scope] = (await accessTokenFor(ts, agent, client, scope)).access_token;
    tokens.all = (await accessTokenFor(ts, agent, client, SCOPES.join(' '))).access_token;
    revoked = (await accessTokenFor(ts, agent, client, SCOPES.join(' '))).access_token;
    await fetch(`${ts.api}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token: revoked, client_id: client.clientId, client_secret: client.clientSecret! }),
    });
    expired = (await accessTokenFor(ts, agent, client, SCOPES.join(' '))).access_token;
    responseId = (await call('POST', `${ts.api}/oauth/responses`, { key: tokens.all, json: { model: 'test-model', input: 'x' } })).json.id;
    await ts.services.storage.db.updateTable('oauth_tokens').set({ expires_at: Date.now() - 1 }).where('token_hash', '=', credentialKey(expired)).execute();
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  for (const endpoint of ENDPOINTS) {
    for (const scope of SCOPES) {
      const allowed = scope === endpoint.scope;
      it(`${endpoint.method} ${endpoint.path} with a ${scope} token → ${allowed ? 'served' : '403 insufficient_scope'}`, async () => {
        const reply = await call(endpoint.method, url(endpoint.path), { headers: { authorization: `Bearer ${tokens[scope]}` }, json: endpoint.json });
        if (allowed) {
          expect(reply.status, reply.text).toBe(200);
        } else {
          expect(reply.status).toBe(403);
          expect(reply.json.error.code).toBe('insufficient_scope');
          expect(reply.headers.get('www-authenticate')).toContain(`scope="${endpoint.scope}"`);
        }
      });
    }
    it(`${endpoint.method} ${endpoint.path} with revoked and expired tokens → 401 invalid_token`, async () => {
      for (const token of [revoked, expired]) {
        const reply = await call(endpoint.method, url(endpoint.path), { headers: { authorization: `Bearer ${token}` }, json: endpoint.json });
        expect(reply.status).toBe(401);
        expect(reply.json.error.code).toBe('invalid_token');
        expect(reply.headers.get('www-authenticate')).toContain('error="invalid_token"');
      }
    });
    it(`${endpoint.method} ${endpoint.path} with every scope → served`, async () => {
      const reply = await call(endpoint.method, url(endpoint.path), { headers: { authorization: `Bearer ${tokens.all}` }, json: endpoint.json });
      expect(reply.status, reply.text).toBe(200);
    });
  }
});
