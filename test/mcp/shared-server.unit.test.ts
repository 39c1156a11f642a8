import { McpServer, WebStandardStreamableHTTPServerTransport, requireScopes, type AuthInfo } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SharedMcpServer } from '../../src/mcp/shared-server.js';

/** A server like Serika's: a tool answering for the caller in authInfo, and one that needs a scope. */
function server(): McpServer {
  const mcp = new McpServer({ name: 'test', version: '1' });
  mcp.registerTool('whoami', { description: 'who', inputSchema: z.object({}), scopeChallenge: requireScopes('profile') }, async (_args, ctx) => {
    const who = (ctx.http?.authInfo?.extra as { user: string }).user;
    // Answers out of order, so concurrent calls overlap inside the server.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
    return { content: [{ type: 'text', text: who }], structuredContent: { user: who } };
  });
  mcp.registerTool('echo', { description: 'echo', inputSchema: z.object({ n: z.number() }), scopeChallenge: requireScopes('profile') }, async ({ n }) => ({ content: [{ type: 'text', text: String(n) }] }));
  mcp.registerTool('secret', { description: 'needs more', inputSchema: z.object({}), scopeChallenge: requireScopes('characters') }, async () => ({ content: [{ type: 'text', text: 'x' }] }));
  return mcp;
}

const auth = (user: string, scopes = ['profile']): AuthInfo => ({ token: '', clientId: 'c', scopes, extra: { user } });
const HEADERS: Record<string, string> = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-protocol-version': '2025-11-25' };
const call = (id: number | string, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

function sharedCall(message: unknown, authInfo = auth('ann'), headers: Record<string, string | undefined> = HEADERS) {
  return { message, authInfo, header: (name: string) => headers[name] };
}

/** What the SDK's own stateless transport answers for the same message (one server and transport per request). */
async function viaSdkTransport(message: unknown, authInfo: AuthInfo): Promise<unknown> {
  const mcp = server();
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await mcp.connect(transport);
  const response = await transport.handleRequest(new Request('http://x/mcp', { method: 'POST', headers: HEADERS, body: JSON.stringify(message) }), { authInfo, parsedBody: message });
  expect(response.status).toBe(200);
  return response.json();
}

describe('the shared MCP server (one server for every plain 2025-revision call)', () => {
  it('answers exactly what the SDK transport answers: results, tool errors, bad arguments, unknown tools and methods', async () => {
    const shared = new SharedMcpServer(server());
    const messages = [
      call(1, 'whoami'),
      call('a-string-id', 'echo', { n: 7 }),
      call(2, 'echo', { n: 'not a number' }),
      call(3, 'no_such_tool'),
      { jsonrpc: '2.0', id: 4, method: 'tools/list' },
      { jsonrpc: '2.0', id: 5, method: 'ping' },
      { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 }, _meta: { progressToken: 'p1' } } },
    ];
    for (const message of messages) {
      expect(await shared.answer(sharedCall(message))).toEqual(await viaSdkTransport(message, auth('ann')));
    }
  });

  it('keeps concurrent callers apart: each answer has its own id and its own caller, even when the clients reuse ids', async () => {
    const shared = new SharedMcpServer(server());
    const users = Array.from({ length: 60 }, (_, i) => `user${i}`);
    const answers = await Promise.all(users.map((user, i) => shared.answer(sharedCall(call(i % 2 === 0 ? 1 : 'same', 'whoami'), auth(user)))));
    answers.forEach((answer, i) => {
      expect(answer).toMatchObject({ id: i % 2 === 0 ? 1 : 'same', result: { structuredContent: { user: users[i] } } });
    });
  });

  it('leaves to the SDK transport everything that is not a plain call: its refusals, stateful methods, batches, notifications, the 2026 revision, scope challenges', async () => {
    const shared = new SharedMcpServer(server());
    const cases: Array<[string, unknown, Record<string, string | undefined>?, AuthInfo?]> = [
      ['Accept without text/event-stream (406)', call(1, 'whoami'), { ...HEADERS, accept: 'application/json' }],
      ['no Accept (406)', call(1, 'whoami'), { ...HEADERS, accept: undefined }],
      ['a text/plain body (415)', call(1, 'whoami'), { ...HEADERS, 'content-type': 'text/plain' }],
      ['an unsupported protocol version (400)', call(1, 'whoami'), { ...HEADERS, 'mcp-protocol-version': '1999-01-01' }],
      ['the 2026 revision header', call(1, 'whoami'), { ...HEADERS, 'mcp-protocol-version': '2026-07-28' }],
      ['a 2026 envelope claim', { ...call(1, 'whoami'), params: { name: 'whoami', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }],
      ['initialize (records the client)', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }],
      ['logging/setLevel (records a level)', { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'debug' } }],
      ['a notification', { jsonrpc: '2.0', method: 'notifications/initialized' }],
      ['a batch', [call(1, 'whoami')]],
      ['not JSON-RPC', { hello: 'world' }],
      ['an extra member (the SDK rejects it)', { ...call(1, 'whoami'), extra: true }],
      ['a fractional id', call(1.5, 'whoami')],
      ['an id that is an object', { ...call(1, 'whoami'), id: { a: 1 } }],
      ['no jsonrpc version', { id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }],
      ['params as an array', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: [] }],
      ['a malformed _meta (the SDK rejects it)', { ...call(1, 'whoami'), params: { name: 'whoami', arguments: {}, _meta: { progressToken: { bad: true } } } }],
      ['a posted response', { jsonrpc: '2.0', id: 1, result: {} }],
      ['a tool the token lacks the scope for (403 step-up)', call(1, 'secret')],
      ['no scope at all', call(1, 'whoami'), HEADERS, auth('ann', [])],
    ];
    for (const [label, message, headers, authInfo] of cases) {
      expect(await shared.answer(sharedCall(message, authInfo ?? auth('ann'), headers ?? HEADERS)), label).toBeNull();
    }
    // No header at all is the SDK's default revision (2025-03-26): a plain call.
    expect(await shared.answer(sharedCall(call(9, 'whoami'), auth('ann'), { ...HEADERS, 'mcp-protocol-version': undefined }))).toMatchObject({ id: 9 });
  });

  it("hands each request to the protocol's request entry, past the transport callback's message-kind parses", async () => {
    const shared = new SharedMcpServer(server());
    expect(await shared.answer(sharedCall(call(1, 'whoami')))).toMatchObject({ id: 1 });
    // The callback the SDK installed on the transport tries every message as a response first (two failing zod parses).
    const transport = (shared as unknown as { transport: { onmessage: unknown } }).transport;
    transport.onmessage = () => {
      throw new Error('the transport callback was used');
    };
    expect(await shared.answer(sharedCall(call(2, 'whoami', {}), auth('bob')))).toMatchObject({ id: 2, result: { structuredContent: { user: 'bob' } } });
  });

  it('falls back to the transport callback with an SDK whose protocol has no request entry', async () => {
    const protocolWithoutEntry = {
      server: {},
      async connect(transport: { onmessage?: (message: { id: number }) => void; send(message: unknown): Promise<void> }) {
        transport.onmessage = (message) => void transport.send({ jsonrpc: '2.0', id: message.id, result: { content: [] } });
      },
    };
    const shared = new SharedMcpServer(protocolWithoutEntry as unknown as McpServer);
    expect(await shared.answer(sharedCall(call('x', 'whoami')))).toEqual({ jsonrpc: '2.0', id: 'x', result: { content: [] } });
  });
});
