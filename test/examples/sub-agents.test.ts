import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { userWithSession, type TestClient } from '../helpers/oauth.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';
import { runExample } from './run-example.js';

/**
 * SPEC §15 the way an orchestrator uses it: examples/sub-agents exchanges a user's token for two
 * sub-agents, which call chat with the openai SDK on their own slices (the fake upstream answers).
 */
describe('examples/sub-agents (an orchestrator and two sub-agents) against a started Serika', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let client: TestClient;
  let token: string;

  beforeAll(async () => {
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl });
    const { user, agent } = await userWithSession(ts, 'orchestrator_user');
    client = await clientWithAllScopes(ts, user, 'Orchestrator');
    token = (await accessTokenFor(ts, agent, client, 'profile generations')).access_token;
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  it('gives each sub-agent its own narrower token; each calls chat within its slice; both end when revoked', async () => {
    const run = await runExample('examples/sub-agents/orchestrator.mjs', { SERIKA_ISSUER: ts.config.publicUrl, CLIENT_ID: client.clientId, CLIENT_SECRET: client.clientSecret!, ACCESS_TOKEN: token }, 'sub-agent tokens revoked');
    expect(await run.exited, run.output()).toBe(0);
    const output = run.output();
    // Never past the user's token's own life, issued moments before.
    expect(output).toMatch(/exchanged for researcher: scope generations, expires_in 35\d\d, budget 2000 tokens/);
    expect(output).toMatch(/exchanged for writer: scope generations, expires_in 35\d\d, budget 1000 tokens/);
    // The fake upstream charges 18 tokens a call: each slice is its own.
    expect(output).toContain('researcher: Hello from upstream (18 tokens; 1982 left)');
    expect(output).toContain('writer: Hello from upstream (18 tokens; 982 left)');
    expect(output).toContain(`introspection: act {"sub":"${client.clientId}","agent_name":"researcher"}, budget_remaining {"tokens":1982,"images":null,"resets_at":null}`);
    // Each sub-agent's call reached the upstream with a cap lowered to nothing beyond its slice.
    expect(up.received.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(2);
    // The user's token still works; the sub-agents' do not.
    expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(await ts.services.oauth.agents.live((await ts.services.oauth.tokens.find(token))!.user_id)).toEqual([]);
  });
});
