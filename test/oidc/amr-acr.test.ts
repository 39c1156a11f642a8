import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MULTI_FACTOR_ACR } from '../../src/accounts/auth-methods.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, PASSWORD, decide, signIn } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';
import { enrollTotp, postPassword, postSecondStep, totpCode } from '../helpers/two-factor.js';

const REDIRECT = 'https://rp.example.com/callback';

describe.each(DIALECTS)('amr, acr and acr_values seen by openid-client (%s)', (dialect) => {
  let ts: TestServer;
  let developer: Seeded;
  let config: client.Configuration;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', RATE_LIMIT_LOGIN: '0' });
    developer = await seedUser(ts);
    const registered = await call('POST', `${ts.api}/oauth/clients`, { key: developer.key, json: { name: 'RP', redirectUris: [REDIRECT], scopes: ['profile'] } });
    expect(registered.status).toBe(201);
    config = await client.discovery(new URL(ts.config.publicUrl), registered.json.clientId, {}, client.ClientSecretPost(registered.json.clientSecret), {
      execute: [client.allowInsecureRequests],
    });
  });
  afterAll(async () => ts?.close());

  /** The authorization URL, and the code grant once the front channel reached the callback. */
  const authorization = async (extra: Record<string, string> = {}) => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...extra });
    const redeem = (callback: URL) => client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    return { url, state, redeem };
  };

  /** Serika's pages like a browser: consent when asked, then the callback. */
  const toCallback = async (agent: Agent, from: Response): Promise<URL> => {
    let response = from;
    if (response.status === 200) response = await decide(agent, ts, await response.text(), 'allow');
    expect(response.status).toBe(303);
    return new URL(response.headers.get('location')!, ts.url);
  };

  describe.skipIf(!dialectAvailable(dialect))('ID tokens and authorize', () => {
    it('lists acr_values_supported in both metadata documents', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const document = (await call('GET', ts.url + path)).json;
        expect(document.acr_values_supported).toEqual([MULTI_FACTOR_ACR, '0']);
        expect(document.claims_supported).toEqual(expect.arrayContaining(['amr', 'acr']));
      }
      expect(config.serverMetadata().acr_values_supported).toContain(MULTI_FACTOR_ACR);
    });

    it('says ["pwd"] and acr "0" after a password; a refresh keeps them', async () => {
      const agent = await signIn(ts, (await seedUser(ts)).username);
      const { url, redeem } = await authorization();
      const tokens = await redeem(await toCallback(agent, await agent.fetch(String(url))));
      expect(tokens.claims()).toMatchObject({ amr: ['pwd'], acr: '0' });
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.claims()).toMatchObject({ amr: ['pwd'], acr: '0' });
    });

    it('says ["pwd","otp","mfa"] and the multi-factor acr after a code', async () => {
      const user = await seedUser(ts);
      const { secret } = await enrollTotp(await signIn(ts, user.username));
      const agent = new Agent(ts.url, ts.config.publicUrl);
      await postPassword(agent, user.username, PASSWORD);
      expect((await postSecondStep(agent, totpCode(secret, 1))).status).toBe(303);
      const { url, redeem } = await authorization();
      const tokens = await redeem(await toCallback(agent, await agent.fetch(String(url))));
      expect(tokens.claims()).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: MULTI_FACTOR_ACR });
    });

    it('acr_values with the multi-factor URI asks a password-only session for its second step, then comes back', async () => {
      const user = await seedUser(ts);
      // Signed in with the password before the factor existed: the session is one factor.
      const agent = await signIn(ts, user.username);
      const { secret } = await enrollTotp(agent);
      const { url, redeem } = await authorization({ acr_values: MULTI_FACTOR_ACR });
      const asked = await agent.fetch(String(url));
      expect(asked.status).toBe(303);
      expect(asked.headers.get('location')).toBe('/login/verify');
      const verified = await postSecondStep(agent, totpCode(secret, 1));
      expect(verified.status).toBe(303);
      const back = verified.headers.get('location')!;
      expect(back.startsWith('/api/openai/v1/oauth/authorize?')).toBe(true);
      const tokens = await redeem(await toCallback(agent, await agent.fetch(back)));
      expect(tokens.claims()).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: MULTI_FACTOR_ACR });
    });

    it('answers unmet_authentication_requirements for a user with no second factor, by redirect', async () => {
      const agent = await signIn(ts, (await seedUser(ts)).username);
      const { url, state } = await authorization({ acr_values: MULTI_FACTOR_ACR });
      const response = await agent.fetch(String(url));
      expect(response.status).toBe(303);
      const location = new URL(response.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe('unmet_authentication_requirements');
      expect(location.searchParams.get('state')).toBe(state);
      expect(location.searchParams.get('iss')).toBe(ts.config.publicUrl);
    });

    it('ignores acr_values it does not act on ("0")', async () => {
      const agent = await signIn(ts, (await seedUser(ts)).username);
      const { url, redeem } = await authorization({ acr_values: '0' });
      const tokens = await redeem(await toCallback(agent, await agent.fetch(String(url))));
      expect(tokens.claims()).toMatchObject({ amr: ['pwd'], acr: '0' });
    });
  });
});
