// An AI agent adding Serika as an MCP server with the official MCP TypeScript SDK, unchanged. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 node examples/mcp-agent/agent.mjs
// No client to register by hand: from the first 401 the SDK discovers the protected-resource and
// authorization-server metadata, then identifies itself by a client ID metadata document (when
// CLIENT_METADATA_URL names one you host over https) or registers itself (RFC 7591), and sends you
// to Serika to sign in and allow it, with PKCE and `resource`. It waits on a loopback port for the
// redirect (CALLBACK_PORT, default 8090), calls a tool, refreshes its token, and calls it again.
import { createServer } from 'node:http';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const issuer = process.env.SERIKA_ISSUER ?? 'http://localhost:3000';
const serverUrl = new URL('/mcp', issuer);
const redirectUrl = `http://127.0.0.1:${process.env.CALLBACK_PORT ?? '8090'}/callback`;

/** The agent's OAuth state, in memory (a desktop agent keeps it on disk, readable by the user only). */
const provider = {
  redirectUrl,
  clientMetadataUrl: process.env.CLIENT_METADATA_URL, // undefined: dynamic client registration
  clientMetadata: {
    client_name: 'Example Agent',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none', // a native app keeps no secret
  },
  clientInformation: () => provider.saved.client,
  saveClientInformation: (client) => void (provider.saved.client = client),
  tokens: () => provider.saved.tokens,
  saveTokens: (tokens) => void (provider.saved.tokens = tokens),
  codeVerifier: () => provider.saved.verifier,
  saveCodeVerifier: (verifier) => void (provider.saved.verifier = verifier),
  redirectToAuthorization: (url) => console.log(`Open this URL to let the agent use your Serika account:\n${url}`),
  saved: {},
};

/** The authorization code, from the one redirect to the loopback callback. */
function codeFromRedirect() {
  return new Promise((resolve, reject) => {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', redirectUrl);
      if (url.pathname !== '/callback') return void response.writeHead(404).end();
      const code = url.searchParams.get('code');
      response.writeHead(code ? 200 : 400, { 'content-type': 'text/html' }).end(code ? '<p>The agent is signed in. You can close this window.</p>' : '<p>Not signed in.</p>');
      server.close();
      if (code) resolve(code);
      else reject(new Error(`authorization failed: ${url.searchParams.get('error')}`));
    });
    server.listen(new URL(redirectUrl).port, '127.0.0.1');
  });
}

const client = new Client({ name: 'example-agent', version: '1.0.0' });
const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
const redirected = codeFromRedirect(); // listening before anyone is sent to Serika
try {
  await client.connect(transport); // no tokens yet (they live in memory): Serika answers 401
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  await transport.finishAuth(await redirected); // the code for tokens, with the PKCE verifier
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
}
console.log(`client_id: ${provider.saved.client.client_id}`);
console.log(`tools: ${(await client.listTools()).tools.map((tool) => tool.name).join(', ')}`);
console.log(`whoami: ${JSON.stringify((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent)}`);

// The SDK refreshes by itself when Serika answers 401; here once on purpose, to show it.
const before = provider.saved.tokens.access_token;
console.log(`refresh: ${await auth(provider, { serverUrl })}, new access token: ${provider.saved.tokens.access_token !== before}`);
console.log(`whoami: ${JSON.stringify((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent)}`);
await client.close();
