import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auth, extractWWWAuthenticateParams, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/cli.js';
import { PASSWORD } from '../helpers/oauth.js';
import { openStorage } from '../../src/storage/database.js';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { call } from '../helpers/server.js';

const FIXTURES = new URL('../fixtures/tls/', import.meta.url);

/** An MCP client's OAuth state, kept in memory as a desktop agent would keep it on disk. */
class AgentProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  authorizationUrl?: URL;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadataUrl?: string,
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'Test Agent', redirect_uris: [this.redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * SPEC §8, the way an agent meets Serika: the official MCP TypeScript SDK's
 * client OAuth runs the whole discovery chain from a 401 — protected-resource
 * metadata, authorization server metadata, then a client ID metadata document
 * or dynamic registration — with PKCE and `resource`, through the real pages
 * in Chromium, and ends with a token whose audience is the resource. Here the
 * resource is the API; adding Serika's /mcp as an MCP server, tools included,
 * is the integration matrix's test/examples/mcp-agent.test.ts.
 */
describe.skipIf(!HAVE_CHROMIUM)('MCP SDK client authorization against Serika', () => {
  let dir: string;
  let serika: ServerProcess;
  let browser: Browser;
  let callback: CallbackServer;
  let documents: Server;
  let documentOrigin: string;
  let api: string;
  const username = 'agent_owner';

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'serika-mcp-'));
    callback = await startCallbackServer();
    // The agent's metadata document, over https on 127.0.0.1 (the SDK takes only https URLs).
    documents = createServer({ key: readFileSync(new URL('key.pem', FIXTURES)), cert: readFileSync(new URL('cert.pem', FIXTURES)) }, (request, response) => {
      if (request.url !== '/agent/client.json') return response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' }).end(
        JSON.stringify({ client_id: `${documentOrigin}/agent/client.json`, client_name: 'Doc Agent', redirect_uris: [`${callback.origin}/callback`], token_endpoint_auth_method: 'none' }),
      );
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    documentOrigin = `https://127.0.0.1:${(documents.address() as AddressInfo).port}`;

    const env = { DATABASE_URL: `sqlite:${join(dir, 'serika.db')}`, CIMD_ALLOW_PRIVATE: 'true', NODE_EXTRA_CA_CERTS: new URL('cert.pem', FIXTURES).pathname, LOG_LEVEL: 'warn' };
    expect((await runCli(['users', 'create', '--username', username, '--password-stdin'], env, `${PASSWORD}\n`)).code).toBe(0);
    serika = await spawnServer(env);
    api = `${serika.url}/api/openai/v1`;
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await serika?.stop();
    await callback?.close();
    await new Promise((resolve) => documents?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The 401 → discovery → consent in Chromium → code → tokens, as the SDK drives it. */
  async function connect(provider: AgentProvider, screenshot: string): Promise<OAuthTokens> {
    const serverUrl = api;
    const unauthorized = await fetch(`${api}/oauth/characters`);
    expect(unauthorized.status).toBe(401);
    const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(unauthorized);
    expect(resourceMetadataUrl?.href).toBe(`${serika.url}/.well-known/oauth-protected-resource/api/openai/v1`);
    expect(scope).toBe('characters');
    expect(await auth(provider, { serverUrl, resourceMetadataUrl })).toBe('REDIRECT');
    const url = provider.authorizationUrl!;
    expect(url.searchParams.get('resource')).toBe(serverUrl);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor({ timeout: 5000 });
    const consent = await page.content();
    await page.screenshot({ path: `test-results/${screenshot}.png`, fullPage: true });
    const landed = callback.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    const code = (await landed).searchParams.get('code')!;
    await context.close();
    expect(await auth(provider, { serverUrl, resourceMetadataUrl, authorizationCode: code })).toBe('AUTHORIZED');
    return Object.assign(provider.saved!, { consent });
  }

  /** The audience stored with the access token, read from Serika's database. */
  async function audienceOf(accessToken: string): Promise<string | null> {
    const storage = openStorage(`sqlite:${join(dir, 'serika.db')}`);
    try {
      const row = await storage.db.selectFrom('oauth_tokens').select('resources').where('token_hash', '=', credentialKey(accessToken)).executeTakeFirstOrThrow();
      return row.resources;
    } finally {
      await storage.close();
    }
  }

  it('by a client ID metadata document', async () => {
    const provider = new AgentProvider(`${callback.origin}/callback`, `${documentOrigin}/agent/client.json`);
    const tokens = (await connect(provider, 'mcp-cimd-consent')) as OAuthTokens & { consent: string };
    expect(provider.info?.client_id).toBe(`${documentOrigin}/agent/client.json`);
    expect(tokens.consent).toContain('Doc Agent');
    expect(tokens.consent).toContain('Serika has not verified this app.');
    expect(tokens.consent).toContain('Serika API');
    const characters = await call('GET', `${api}/oauth/characters`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(characters.status).toBe(200);
    expect(await audienceOf(tokens.access_token)).toBe('/api/openai/v1');
  }, 60_000);

  it('by dynamic client registration, and the token is for the API only', async () => {
    const provider = new AgentProvider(`${callback.origin}/callback`);
    const tokens = (await connect(provider, 'mcp-dcr-consent')) as OAuthTokens & { consent: string };
    expect(provider.info?.client_id).toMatch(/^client_/);
    expect(tokens.consent).toContain('Unverified app');
    expect(tokens.scope).toBe('profile generations characters');
    expect((await call('GET', `${api}/oauth/characters`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
    expect(await audienceOf(tokens.access_token)).toBe('/api/openai/v1');
    // The SDK refreshes with the same resource.
    expect(await auth(provider, { serverUrl: api })).toBe('AUTHORIZED');
    expect(provider.saved!.access_token).not.toBe(tokens.access_token);
    expect(await audienceOf(provider.saved!.access_token)).toBe('/api/openai/v1');
  }, 60_000);
});
