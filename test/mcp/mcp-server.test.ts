import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { startFakeUpstream, TINY_PNG, USAGE, type FakeUpstream } from '../helpers/fake-upstream.js';
import { authorizeUrl, basic, decide, form, pkce, registerClient, standardParams, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

/** SPEC §8: the MCP server, driven by the official SDK clients of both eras with tokens from the real flow. */
describe.each(DIALECTS)('the MCP server (%s)', (dialect) => {
  let ts: TestServer;
  let up: FakeUpstream;
  let owner: Seeded;
  let agent: Agent;
  let app: TestClient;
  let mcpUrl: URL;
  let characterId: string;
  const tokens: Record<string, string> = {};

  async function token(scope: string, resources: string[], as: Agent = agent): Promise<string> {
    const { verifier, challenge } = pkce();
    const params: Array<[string, string]> = [...(Object.entries(standardParams(app, challenge, { scope, prompt: 'consent' })) as Array<[string, string]>)];
    for (const r of resources) params.push(['resource', r]);
    const page = await as.fetch(authorizeUrl(ts, params));
    const back = await decide(as, ts, await page.text(), 'allow');
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
    const reply = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: app.redirectUri, code_verifier: verifier }), { authorization: basic(app.clientId, app.clientSecret!) });
    expect(reply.status).toBe(200);
    return reply.json.access_token as string;
  }

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    up = await startFakeUpstream();
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0', UPSTREAM_BASE_URL: up.baseUrl });
    mcpUrl = new URL(`${ts.url}/mcp`);
    ({ user: owner, agent } = await userWithSession(ts, `mcp_${dialect}`));
    app = await registerClient(ts, owner, { name: 'Agent Desk', scopes: ['profile', 'generations', 'characters'] });
    const issuer = ts.config.publicUrl;
    tokens.mcp = await token('profile generations characters', [`${issuer}/mcp`]);
    tokens.origin = await token('profile generations characters', []);
    tokens.api = await token('profile generations characters', [`${issuer}/api/openai/v1`]);
    tokens.profileOnly = await token('profile', [`${issuer}/mcp`]);
    const created = await call('POST', `${ts.api}/characters`, { key: owner.key, json: { name: 'Mira', description: 'A lighthouse keeper', personality: 'Calm and wry', greeting: 'The sea says hello.' } });
    expect(created.status).toBe(201);
    characterId = created.json.id;
  });
  afterAll(async () => {
    await ts?.close();
    await up?.close();
  });

  const connectV1 = async (accessToken: string) => {
    const client = new ClientV1({ name: 'test-v1', version: '1.0.0' });
    await client.connect(new TransportV1(mcpUrl, { requestInit: { headers: { authorization: `Bearer ${accessToken}` } } }));
    return client;
  };
  const connectV2 = async (accessToken: string) => {
    const client = new Client({ name: 'test-v2', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: { authorization: `Bearer ${accessToken}` } } }));
    return client;
  };

  describe.skipIf(!dialectAvailable(dialect))('tools', () => {
    for (const [era, connect] of [
      ['2025-11-25 (SDK 1.x)', connectV1],
      ['2026-07-28 (SDK 2.x)', connectV2],
    ] as const) {
      it(`lists and calls every tool over the ${era} revision; generation is metered to the app`, async () => {
        const client = await connect(tokens.mcp!);
        try {
          const { tools } = await client.listTools();
          expect(tools.map((t) => t.name).sort()).toEqual(['chat', 'generate_image', 'get_character', 'list_characters', 'list_models', 'whoami']);
          for (const tool of tools) {
            expect(tool.description!.length).toBeGreaterThan(20);
            expect(tool.inputSchema.type).toBe('object');
          }
          const whoami = await client.callTool({ name: 'whoami', arguments: {} });
          expect(whoami.structuredContent).toEqual({ id: owner.userId, username: owner.username, avatar: null });
          const list = await client.callTool({ name: 'list_characters', arguments: {} });
          expect((list.structuredContent as { characters: Array<{ name: string }> }).characters.map((c) => c.name)).toEqual(['Mira']);
          const one = await client.callTool({ name: 'get_character', arguments: { character_id: characterId } });
          expect(one.structuredContent).toMatchObject({ id: characterId, personality: 'Calm and wry', greeting: 'The sea says hello.' });
          const models = await client.callTool({ name: 'list_models', arguments: {} });
          expect(models.structuredContent).toEqual({ models: ['test-model'] });

          const before = up.received.length;
          const chat = await client.callTool({ name: 'chat', arguments: { prompt: 'Say hello', character_id: characterId, model: 'test-model' } });
          expect(chat.isError).toBeFalsy();
          expect((chat.content as Array<{ text: string }>)[0]!.text).toBeTruthy();
          const sent = up.received.slice(before).find((r) => r.path === '/v1/chat/completions')!;
          expect(sent.body.messages[0].role).toBe('system');
          expect(sent.body.messages[0].content).toContain('Calm and wry');
          expect(sent.body.messages[0].content).toContain('The sea says hello.');
          expect(sent.body.messages.at(-1)).toEqual({ role: 'user', content: 'Say hello' });
          expect(String(sent.headers.authorization ?? '')).not.toContain(tokens.mcp!);

          const url = await client.callTool({ name: 'generate_image', arguments: { prompt: 'a lighthouse' } });
          expect(url.content).toEqual([{ type: 'text', text: 'https://img.example/0.png' }]);
          const png = await client.callTool({ name: 'generate_image', arguments: { prompt: 'a lighthouse', model: 'b64-image' } });
          expect(png.content).toEqual([{ type: 'image', data: TINY_PNG, mimeType: 'image/png' }]);
        } finally {
          await client.close();
        }
      });
    }

    it('meters MCP generation per user and app, as the API does', async () => {
      const usage = await call('GET', `${ts.api}/usage`, { key: owner.key });
      const row = (usage.json.data as Array<{ clientId: string | null; promptTokens: number; images: number; requests: number }>).find((r) => r.clientId === app.clientId)!;
      expect(row.requests).toBeGreaterThanOrEqual(6);
      expect(row.promptTokens).toBeGreaterThanOrEqual(2 * USAGE.prompt_tokens);
      expect(row.images).toBeGreaterThanOrEqual(4);
    });

    it('the connected app reads "via MCP" when its grant reaches the MCP server only', async () => {
      const desk = app;
      app = await registerClient(ts, owner, { name: 'Connector Only', scopes: ['profile'] });
      try {
        await token('profile', [`${ts.config.publicUrl}/mcp`]);
      } finally {
        app = desk;
      }
      const page = await (await agent.fetch('/dashboard/apps')).text();
      expect(page).toMatch(/Connector Only <span class="badge">via MCP<\/span>/);
      expect(page).not.toMatch(/Agent Desk <span class="badge">via MCP/);
    });

    it('a token for the origin works; a token for the API only is refused with 401 and resource_metadata', async () => {
      const client = await connectV1(tokens.origin!);
      expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ id: owner.userId });
      await client.close();
      const refused = await call('POST', mcpUrl.href, {
        headers: { authorization: `Bearer ${tokens.api}`, accept: 'application/json, text/event-stream' },
        json: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token".*resource_metadata="[^"]+\/.well-known\/oauth-protected-resource\/mcp"/);
      const none = await call('POST', mcpUrl.href, { json: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} } });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="serika", scope="profile characters generations", resource_metadata="${ts.config.publicUrl}/.well-known/oauth-protected-resource/mcp"`);
    });

    it('a tool whose scope the token lacks → HTTP 403 insufficient_scope with scope and resource_metadata (step-up)', async () => {
      const client = await connectV1(tokens.profileOnly!);
      expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ id: owner.userId });
      await client.close();
      for (const [name, scope] of [
        ['list_characters', 'characters'],
        ['chat', 'generations'],
      ]) {
        const refused = await call('POST', mcpUrl.href, {
          headers: { authorization: `Bearer ${tokens.profileOnly}`, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
          json: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: { prompt: 'x' } } },
        });
        expect(refused.status).toBe(403);
        const challenge = refused.headers.get('www-authenticate')!;
        expect(challenge).toMatch(/^Bearer realm="serika", /);
        expect(challenge).toContain('error="insufficient_scope"');
        expect(challenge).toContain(`scope="${scope}"`);
        expect(challenge).toContain(`resource_metadata="${ts.config.publicUrl}/.well-known/oauth-protected-resource/mcp"`);
      }
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('bad input: the error the spec names, never a 5xx', () => {
    const post = (body: string | unknown, headers: Record<string, string> = {}) =>
      call('POST', mcpUrl.href, {
        headers: { authorization: `Bearer ${tokens.mcp}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    /** The JSON-RPC message of a JSON or single-event SSE answer. */
    const message = (reply: { text: string }) => JSON.parse(reply.text.startsWith('{') ? reply.text : /^data: (.*)$/m.exec(reply.text)![1]!);

    it('malformed JSON → -32700; not JSON-RPC → -32600; wrong media type → 415', async () => {
      const parse = await post('{"jsonrpc": "2.0", ');
      expect(parse.status).toBe(400);
      expect(message(parse).error.code).toBe(-32700);
      const invalid = await post({ hello: 'world' });
      expect(invalid.status).toBe(400);
      expect(message(invalid).error.code).toBeLessThan(-32000);
      const text = await post('hello', { 'content-type': 'text/plain' });
      expect(text.status).toBe(415);
    });

    it('an unknown method → -32601; an unknown tool, wrong argument types, a 1 MB prompt, another user\'s character → errors, nothing leaked', async () => {
      const unknownMethod = await post({ jsonrpc: '2.0', id: 1, method: 'no/such', params: {} });
      expect(unknownMethod.status).toBe(200);
      expect(message(unknownMethod).error.code).toBe(-32601);

      const client = await connectV1(tokens.mcp!);
      try {
        const unknownTool = await client.callTool({ name: 'delete_everything', arguments: {} }).catch((e: Error) => ({ isError: true, content: [{ text: e.message }] }));
        expect(unknownTool.isError).toBe(true);
        const wrongType = await client.callTool({ name: 'get_character', arguments: { character_id: 42 } }).catch((e: Error) => ({ isError: true, content: [{ text: e.message }] }));
        expect(wrongType.isError).toBe(true);
        const huge = await client.callTool({ name: 'chat', arguments: { prompt: 'x'.repeat(1_000_000) } }).catch((e: Error) => ({ isError: true, content: [{ text: e.message }] }));
        expect(huge.isError).toBe(true);

        const stranger = await userWithSession(ts);
        const theirs = await call('POST', `${ts.api}/characters`, { key: stranger.user.key, json: { name: 'Secret Sable', description: 'hidden', personality: 'p', greeting: 'g' } });
        const leak = await client.callTool({ name: 'get_character', arguments: { character_id: theirs.json.id } });
        expect(leak.isError).toBe(true);
        expect(JSON.stringify(leak)).not.toContain('Secret Sable');
        const asThem = await client.callTool({ name: 'chat', arguments: { prompt: 'hi', character_id: theirs.json.id } });
        expect(asThem.isError).toBe(true);
        expect(JSON.stringify(asThem)).not.toContain('Secret Sable');
        // A spending limit the user set holds for MCP tools too (SPEC §8, §10): the refusal is the tool's error.
        await ts.services.budgets.set(owner.userId, app.clientId, { tokens: 1, images: null, period: 'day' });
        const capped = await client.callTool({ name: 'chat', arguments: { prompt: 'hi' } });
        expect(capped.isError).toBe(true);
        expect(JSON.stringify(capped.content)).toContain('daily limit of 1 token ');
        // What remains and what the call needed (SPEC §10), for the tools as for the API.
        expect(JSON.stringify(capped.content)).toMatch(/It has 1 of its 1 token left today; this call needs up to \d[\d,]*\./);
        await ts.services.budgets.set(owner.userId, app.clientId, { tokens: null, images: 0, period: 'month' });
        const noImage = await client.callTool({ name: 'generate_image', arguments: { prompt: 'a cat' } });
        expect(noImage.isError).toBe(true);
        expect(JSON.stringify(noImage.content)).toContain('It has 0 of its 0 images left this month; this call needs 1.');
        await ts.services.budgets.set(owner.userId, app.clientId, null);
        // An upstream failure is the tool's error, told in words.
        const failing = await client.callTool({ name: 'chat', arguments: { prompt: 'hi', model: 'fail-500' } });
        expect(failing.isError).toBe(true);
      } finally {
        await client.close();
      }
    });

    it('serves the 2025-06-18 revision too: initialize negotiates it, then calls carry its header', async () => {
      const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'old', version: '1' } } });
      expect(init.status).toBe(200);
      expect(message(init).result.protocolVersion).toBe('2025-06-18');
      const whoami = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { 'mcp-protocol-version': '2025-06-18' });
      expect(whoami.status).toBe(200);
      expect(message(whoami).result.structuredContent.id).toBe(owner.userId);
    });

    it('an unsupported protocol-version header → 400; GET and DELETE (no sessions) → 405', async () => {
      const wrong = await post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { 'mcp-protocol-version': '1999-01-01' });
      expect(wrong.status).toBe(400);
      for (const method of ['GET', 'DELETE']) {
        const reply = await call(method, mcpUrl.href, { headers: { authorization: `Bearer ${tokens.mcp}`, accept: 'text/event-stream' } });
        expect(reply.status).toBe(405);
      }
    });

    it('many callers at once, reusing JSON-RPC ids: each answer carries its own id and its own user', async () => {
      const other = await userWithSession(ts);
      const otherToken = await token('profile', [`${ts.config.publicUrl}/mcp`], other.agent);
      const callers = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? { token: tokens.mcp!, userId: owner.userId } : { token: otherToken, userId: other.user.userId }));
      const replies = await Promise.all(
        callers.map((c, i) => post({ jsonrpc: '2.0', id: i % 3 === 0 ? 'same' : 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { authorization: `Bearer ${c.token}`, 'mcp-protocol-version': '2025-11-25' })),
      );
      replies.forEach((reply, i) => {
        expect(reply.status).toBe(200);
        expect(message(reply)).toMatchObject({ id: i % 3 === 0 ? 'same' : 1, result: { structuredContent: { id: callers[i]!.userId } } });
      });
    });

    it('server/discover and a version error list every revision served (SPEC §8)', async () => {
      const answers: unknown[] = [];
      const recording: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (String(init?.body ?? '').includes('server/discover')) answers.push(await response.clone().json());
        return response;
      };
      const client = new Client({ name: 'discover', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await client.connect(new StreamableHTTPClientTransport(mcpUrl, { fetch: recording, requestInit: { headers: { authorization: `Bearer ${tokens.mcp}` } } }));
      await client.close();
      expect(answers).toHaveLength(1);
      const listed = (answers[0] as { result: { supportedVersions: string[] } }).result.supportedVersions;
      expect(listed).toEqual(expect.arrayContaining(['2025-06-18', '2025-11-25', '2026-07-28']));
      for (const version of listed.filter((v) => v < '2026')) {
        const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'old', version: '1' } } });
        expect(message(init).result.protocolVersion).toBe(version);
      }
      const wrong = await post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { 'mcp-protocol-version': '1999-01-01' });
      expect(wrong.status).toBe(400);
      expect(message(wrong).error.message).toContain(`supported versions: ${listed.join(', ')}`);
    });

    it('a foreign Origin → 403 with the challenge (realm, resource_metadata); our own Origin and none are fine', async () => {
      const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
      const foreign = await post(body, { origin: 'https://evil.example' });
      expect(foreign.status).toBe(403);
      expect(foreign.headers.get('www-authenticate')).toBe(`Bearer realm="serika", scope="profile characters generations", resource_metadata="${ts.config.publicUrl}/.well-known/oauth-protected-resource/mcp"`);
      expect((await post(body, { origin: new URL(ts.config.publicUrl).origin })).status).toBe(200);
      expect((await post(body)).status).toBe(200);
    });
  });
});
