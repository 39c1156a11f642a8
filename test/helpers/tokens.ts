import { expect } from 'vitest';
import { obtainCode, registerClient, tokenRequest, type Agent, type TestClient } from './oauth.js';
import type { Seeded, TestServer } from './server.js';

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
