import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { form, hiddenField, registerClient, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

describe.each(DIALECTS)('token exchange: sub-agent tokens (%s)', (dialect) => {
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let agent: Agent;
  let client: TestClient;
  let other: TestClient;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    up = await startFakeUpstream();
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', UPSTREAM_BASE_URL: up.baseUrl });
    ({ user: owner, agent } = await userWithSession(ts, `tx_${dialect}`));
    client = await clientWithAllScopes(ts, owner, 'Orchestrator');
    other = await registerClient(ts, owner, { name: 'Other App', scopes: ['profile', 'generations'] });
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  const exchange = (subject: string, extra: Record<string, string> = {}, c: TestClient = client) =>
    tokenRequest(ts, { grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS, client_id: c.clientId, client_secret: c.clientSecret!, ...extra });
  const userToken = async (scope = 'profile generations') => (await accessTokenFor(ts, agent, client, scope)).access_token;
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const userinfo = async (token: string) => (await call('GET', `${ts.api}/oauth/userinfo`, bearer(token))).status;
  const introspect = async (token: string) =>
    (await call('POST', `${ts.api}/oauth/introspect`, { body: form({ token, client_id: client.clientId, client_secret: client.clientSecret! }), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json;
  const chat = (token: string, body: Record<string, unknown> = {}) =>
    call('POST', `${ts.api}/oauth/chat/completions`, { ...bearer(token), json: { model: 'test-model', messages: [{ role: 'user', content: 'hi' }], ...body } });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('issues a narrower access token: issued_token_type, Bearer, no refresh token, expires_in within the parent\'s life', async () => {
      const parent = await userToken();
      const reply = await exchange(parent, { scope: 'generations', agent_name: 'researcher' });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect(reply.json).toEqual({ access_token: expect.stringMatching(/^serika_at_/), issued_token_type: ACCESS, token_type: 'Bearer', expires_in: expect.any(Number), scope: 'generations' });
      expect(reply.json.refresh_token).toBeUndefined();
      const parentExp = (await introspect(parent)).exp as number;
      const child = await introspect(reply.json.access_token);
      expect(child.exp).toBeLessThanOrEqual(parentExp);
      expect(reply.json.expires_in).toBeLessThanOrEqual(parentExp - Math.floor(Date.now() / 1000) + 1);
      expect((await chat(reply.json.access_token)).status).toBe(200);
      // Narrowed to generations: the profile is not its to read.
      expect(await userinfo(reply.json.access_token)).toBe(403);
    });

    it('a grandchild never outlives its parent: expires_in is cut to what the subject token has left', async () => {
      const parent = await userToken();
      const child = (await exchange(parent)).json.access_token as string;
      await ts.services.storage.db.updateTable('oauth_tokens').set({ expires_at: Date.now() + 90_000 }).where('token_hash', '=', (await ts.services.oauth.tokens.find(child))!.token_hash).execute();
      const grandchild = await exchange(child);
      expect(grandchild.status).toBe(200);
      expect(grandchild.json.expires_in).toBeLessThanOrEqual(90);
    });

    it('refuses every widening with its own error', async () => {
      const parent = await userToken('generations');
      const scope = await exchange(parent, { scope: 'generations profile' });
      expect([scope.status, scope.json.error]).toEqual([400, 'invalid_scope']);
      const mcpOnly = (await exchange(parent, { resource: `${ts.config.publicUrl}/mcp` })).json.access_token as string;
      const target = await exchange(mcpOnly, { resource: `${ts.config.publicUrl}/api/openai/v1` });
      expect([target.status, target.json.error]).toEqual([400, 'invalid_target']);
      await ts.services.budgets.set(owner.userId, client.clientId, { tokens: 10_000, images: null, period: 'month' });
      try {
        const budget = await exchange(parent, { authorization_details: JSON.stringify([{ type: 'serika_budget', tokens: 20_000 }]) });
        expect([budget.status, budget.json.error]).toEqual([400, 'invalid_authorization_details']);
        const child = await exchange(parent, { authorization_details: JSON.stringify([{ type: 'serika_budget', tokens: 5_000 }]) });
        expect(child.status).toBe(200);
        expect(child.json.authorization_details).toEqual([{ type: 'serika_budget', tokens: 5_000, period: 'total' }]);
        const grandchild = await exchange(child.json.access_token, { authorization_details: JSON.stringify([{ type: 'serika_budget', tokens: 6_000 }]) });
        expect([grandchild.status, grandchild.json.error]).toEqual([400, 'invalid_authorization_details']);
        const monthly = await exchange(parent, { authorization_details: JSON.stringify([{ type: 'serika_budget', tokens: 10, period: 'month' }]) });
        expect([monthly.status, monthly.json.error]).toEqual([400, 'invalid_authorization_details']);
      } finally {
        await ts.services.budgets.set(owner.userId, client.clientId, null);
      }
    });

    it('refuses another client\'s token, other token types, a missing subject token and a long agent_name', async () => {
      const parent = await userToken();
      const stolen = await exchange(parent, {}, other);
      expect([stolen.status, stolen.json.error]).toEqual([400, 'invalid_grant']);
      const refresh = (await accessTokenFor(ts, agent, client, 'generations')).refresh_token;
      expect((await exchange(refresh, {})).json.error).toBe('invalid_grant');
      const typed = await exchange(parent, { subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' });
      expect([typed.status, typed.json.error]).toEqual([400, 'invalid_request']);
      const missing = await tokenRequest(ts, { grant_type: EXCHANGE, subject_token_type: ACCESS, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(missing.json.error).toBe('invalid_request');
      expect((await exchange(parent, { agent_name: 'x'.repeat(65) })).json.error).toBe('invalid_request');
      expect((await exchange(parent, { agent_name: 'x'.repeat(64) })).status).toBe(200);
      const unauthenticated = await exchange(parent, { client_secret: 'wrong' });
      expect([unauthenticated.status, unauthenticated.json.error]).toEqual([401, 'invalid_client']);
    });

    it('nests at most 3 levels below the user\'s token; the 4th is refused (invalid_request, RFC 8693 §2.2.2)', async () => {
      let token = await userToken();
      for (let level = 1; level <= 3; level++) {
        const reply = await exchange(token, { agent_name: `level${level}` });
        expect(reply.status).toBe(200);
        token = reply.json.access_token;
      }
      const fourth = await exchange(token, { agent_name: 'level4' });
      expect([fourth.status, fourth.json.error]).toEqual([400, 'invalid_request']);
      // Introspection: the current actor outermost, the ones before it nested (RFC 8693 §4.1).
      const seen = await introspect(token);
      expect(seen.active).toBe(true);
      expect(seen.act).toEqual({
        sub: client.clientId,
        agent_name: 'level3',
        act: { sub: client.clientId, agent_name: 'level2', act: { sub: client.clientId, agent_name: 'level1' } },
      });
    });

    it('revoking the parent ends the child and the grandchild at once', async () => {
      const parent = await userToken();
      const child = (await exchange(parent, { agent_name: 'child' })).json.access_token as string;
      const grandchild = (await exchange(child, { agent_name: 'grandchild' })).json.access_token as string;
      // Cached on this instance first: the revocation must reach the cache too.
      expect([await userinfo(child), await userinfo(grandchild)]).toEqual([200, 200]);
      const revoked = await call('POST', `${ts.api}/oauth/revoke`, { body: form({ token: parent, client_id: client.clientId, client_secret: client.clientSecret! }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(revoked.status).toBe(200);
      expect([await userinfo(parent), await userinfo(child), await userinfo(grandchild)]).toEqual([401, 401, 401]);
      expect((await exchange(parent)).json.error).toBe('invalid_grant');
    });

    it('an exchange that lost the race with its parent\'s revocation writes nothing', async () => {
      const parent = await userToken();
      const row = (await ts.services.oauth.tokens.findWithAgent(parent))!;
      await ts.services.oauth.revocation.token(row.token_hash);
      const issued = await ts.services.oauth.agents.issue({
        parent: row,
        characters: null,
        scopes: ['generations'],
        audience: ['/'],
        expiresAt: Date.now() + 60_000,
        agentName: 'late',
        act: { sub: client.clientId },
        alongside: () => Promise.reject(new Error('nothing may be written beside a token that was not issued')),
      });
      expect(issued).toBeNull();
      expect(await ts.services.storage.db.selectFrom('oauth_agent_tokens').select('token_hash').where('parent_hash', '=', row.token_hash).execute()).toEqual([]);
    });

    it('revoking the grant ends every sub-agent token of the app', async () => {
      const parent = await userToken();
      const child = (await exchange(parent)).json.access_token as string;
      expect(await userinfo(child)).toBe(200);
      await ts.services.grants.revokeAccess(owner.userId, client.clientId);
      expect(await userinfo(child)).toBe(401);
    });

    it('a sub-agent spends from its own cap and from the grant\'s budget; introspection shows both', async () => {
      // The grant first (the test before revoked it), then its budget.
      const parent = await userToken('generations');
      await ts.services.budgets.set(owner.userId, client.clientId, { tokens: 100_000, images: null, period: 'month' });
      try {
        const child = await exchange(parent, { agent_name: 'capped', authorization_details: JSON.stringify([{ type: 'serika_budget', tokens: 60 }]) });
        const token = child.json.access_token as string;
        // The fake upstream charges 18 tokens a call; the cap of 60 lowers max_tokens, then refuses.
        let statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push((await chat(token, { max_tokens: 10 })).status);
        expect(statuses).toContain(429);
        statuses = statuses.filter((s) => s === 200);
        const seen = await introspect(token);
        expect(seen.authorization_details).toEqual([{ type: 'serika_budget', tokens: 60, period: 'total' }]);
        expect(seen.budget_remaining.tokens).toBe(60 - 18 * statuses.length);
        const grant = await ts.services.budgets.get(owner.userId, client.clientId);
        expect(grant!.tokensUsed).toBe(18 * statuses.length);
      } finally {
        await ts.services.budgets.set(owner.userId, client.clientId, null);
      }
    });

    it('the connected-apps card lists live sub-agent tokens with their spend, and Revoke ends one', async () => {
      const fresh = await userWithSession(ts, `txd_${dialect}`);
      const parent = await accessTokenFor(ts, fresh.agent, client, 'generations');
      const child = (await exchange(parent.access_token, { agent_name: 'summarizer' })).json.access_token as string;
      expect((await chat(child)).status).toBe(200);
      const page = await (await fresh.agent.fetch('/dashboard/apps')).text();
      expect(page).toContain('summarizer');
      expect(page).toContain('18 tokens');
      const action = /<form method="post" action="([^"]*\/agents\/[^"]*\/revoke)"/.exec(page)![1]!.replace(/&amp;/g, '&');
      const posted = await fresh.agent.fetch(action, { form: { _csrf: hiddenField(page, '_csrf') } });
      expect(posted.status).toBe(303);
      expect((await chat(child)).status).toBe(401);
      expect((await chat(parent.access_token)).status).toBe(200);
      expect(await (await fresh.agent.fetch('/dashboard/apps')).text()).not.toContain('summarizer');
      // Without the CSRF field nothing happens.
      const second = (await exchange(parent.access_token, { agent_name: 'second' })).json.access_token as string;
      const again = await (await fresh.agent.fetch('/dashboard/apps')).text();
      const secondAction = /<form method="post" action="([^"]*\/agents\/[^"]*\/revoke)"/.exec(again)![1]!;
      expect((await fresh.agent.fetch(secondAction, { form: { _csrf: "forged" } })).status).toBeGreaterThanOrEqual(400);
      expect((await chat(second)).status).toBe(200);
    });

    it('lists the grant in both metadata documents', async () => {
      for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
        expect((await call('GET', ts.url + path)).json.grant_types_supported).toContain(EXCHANGE);
      }
    });
  });
});
