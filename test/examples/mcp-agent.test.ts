import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/cli.js';
import { PASSWORD } from '../helpers/oauth.js';
import { FormBrowser } from './form-browser.js';
import { runExample } from './run-example.js';

const FIXTURES = new URL('../fixtures/tls/', import.meta.url);

/**
 * SPEC §8 the way an agent meets Serika: examples/mcp-agent, the official MCP TypeScript SDK's
 * client unchanged, adds Serika's /mcp from a bare 401 — by a client ID metadata document and by
 * dynamic registration — through the real sign-in and consent pages, calls a tool and refreshes.
 * (test/e2e/mcp-sdk-auth.test.ts drives the same SDK at the API resource, for audiences.)
 */
describe('examples/mcp-agent (the MCP SDK client, unchanged) against a started Serika', () => {
  let dir: string;
  let serika: ServerProcess;
  let documents: Server;
  let documentUrl: string;
  const username = 'agent_user';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'serika-mcp-agent-'));
    // The agent's metadata document, as its maker would host it: over https (here on 127.0.0.1, with a test certificate).
    documents = createServer({ key: readFileSync(new URL('key.pem', FIXTURES)), cert: readFileSync(new URL('cert.pem', FIXTURES)) }, (request, response) => {
      if (request.url !== '/agent/client.json') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ client_id: documentUrl, client_name: 'Example Agent', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' }),
      );
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    documentUrl = `https://127.0.0.1:${(documents.address() as AddressInfo).port}/agent/client.json`;
    const env = { DATABASE_URL: `sqlite:${join(dir, 'serika.db')}`, CIMD_ALLOW_PRIVATE: 'true', NODE_EXTRA_CA_CERTS: new URL('cert.pem', FIXTURES).pathname };
    expect((await runCli(['users', 'create', '--username', username, '--password-stdin'], env, `${PASSWORD}\n`)).code).toBe(0);
    serika = await spawnServer(env);
  });
  afterAll(async () => {
    await serika?.stop();
    await new Promise((resolve) => documents?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the agent, signs in and allows on the URL it prints, and returns what it printed. */
  async function runAgent(env: Record<string, string>): Promise<{ output: string; consent: string }> {
    const agent = await runExample('examples/mcp-agent/agent.mjs', { SERIKA_ISSUER: serika.url, CALLBACK_PORT: String(await freePort('127.0.0.1')), ...env }, /Open this URL[^\n]*\n\S+\n/);
    try {
      const url = new URL(/Open this URL[^\n]*\n(\S+)\n/.exec(agent.output())![1]!);
      expect(Object.fromEntries(url.searchParams)).toMatchObject({ resource: `${serika.url}/mcp`, code_challenge_method: 'S256', response_type: 'code' });
      const browser = new FormBrowser();
      const login = await browser.open(url);
      const consent = await browser.submit(login, 'Sign in', { fields: { username, password: PASSWORD } });
      expect(consent.html).toContain('Example Agent');
      expect(consent.html).toContain('Serika MCP server');
      const landed = await browser.submit(consent, 'Allow');
      expect(landed.html).toContain('The agent is signed in.');
      expect(await agent.exited, agent.output()).toBe(0);
      return { output: agent.output(), consent: consent.html };
    } finally {
      await agent.stop();
    }
  }

  /** The tool's answers, before and after the refresh: the signed-in user's. */
  const whoamis = (output: string) => output.match(/^whoami: .*$/gm)?.map((line) => JSON.parse(line.slice('whoami: '.length)).username);

  it('by a client ID metadata document: discovery from the 401, sign-in and consent, tools, refresh', async () => {
    const { output, consent } = await runAgent({ CLIENT_METADATA_URL: documentUrl });
    expect(consent).toContain('Serika has not verified this app.');
    expect(output).toContain(`client_id: ${documentUrl}\n`);
    expect(output).toMatch(/tools: .*\bwhoami\b/);
    expect(output).toContain('refresh: AUTHORIZED, new access token: true\n');
    expect(whoamis(output)).toEqual([username, username]);
  });

  it('by dynamic client registration: the same, as an unverified app', async () => {
    const { output, consent } = await runAgent({});
    expect(consent).toContain('Unverified app.');
    expect(output).toMatch(/client_id: client_[0-9a-f]+\n/);
    expect(output).toContain('refresh: AUTHORIZED, new access token: true\n');
    expect(whoamis(output)).toEqual([username, username]);
  });
});
