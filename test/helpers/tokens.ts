import { expect } from 'vitest';
import type { Dialect } from '../../src/storage/database.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { obtainCode, registerClient, tokenRequest, userWithSession, type Agent, type TestClient } from './oauth.js';
import { startTestServer, type Seeded, type TestServer } from './server.js';

/** Runs the front channel and the code exchange; returns the token response. */
export async function accessTokenFor(ts: TestServer, agent: Agent, client: TestClient, scope: string) {
  const { code, verifier } = await obtainCode(ts, agent, client, { scope, prompt: 'consent' });
  const reply = await tokenRequest(ts, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: client.redirectUri,
    code_verifier: verifier,
    client_id: client.clientId,
    client_secret: client.clientSecret ?? undefined,
  });
  expect(reply.status).toBe(200);
  return reply.json as { access_token: string; refresh_token: string; scope: string };
}

export async function clientWithAllScopes(ts: TestServer, owner: Seeded, name = 'Generation App'): Promise<TestClient> {
  return registerClient(ts, owner, { name, scopes: ['profile', 'generations', 'characters'] });
}

/** A server with a test upstream, a signed-in owner and one app of theirs holding a `generations` token: a budget test's setup. */
export interface GenerationApp {
  ts: TestServer;
  up: FakeUpstream;
  owner: Seeded;
  agent: Agent;
  clientId: string;
  token: string;
  close(): Promise<void>;
}

export async function startGenerationApp(dialect: Dialect, username: string, appName: string, env: Record<string, string> = {}): Promise<GenerationApp> {
  const up = await startFakeUpstream();
  const ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', UPSTREAM_BASE_URL: up.baseUrl, ...env });
  const { user: owner, agent } = await userWithSession(ts, username);
  const client = await clientWithAllScopes(ts, owner, appName);
  const token = (await accessTokenFor(ts, agent, client, 'generations')).access_token;
  return {
    ts,
    up,
    owner,
    agent,
    clientId: client.clientId,
    token,
    async close() {
      await ts.close();
      await up.close();
    },
  };
}
