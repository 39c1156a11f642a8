import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { WebStandardStreamableHTTPServerTransport, createMcpHandler, isLegacyRequest, type AuthInfo } from '@modelcontextprotocol/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { protectedResource } from '../audiences.js';
import { AppError } from '../errors.js';
import type { ErrorClass } from '../http/error-class.js';
import { errorHandler } from '../http/error-handler.js';
import type { OAuthStore } from '../oauth/store/store.js';
import { MCP_PATH } from '../paths.js';
import { bearerChallenge, bearerGuard, bearerOf, withRealm } from '../resources/bearer.js';
import { VERSION } from '../version.js';
import { HttpCaller } from './http-caller.js';
import { SharedMcpServer } from './shared-server.js';
import { MCP_SCOPES, createMcpServer, type ToolDeps } from './tools.js';

export interface McpRouteDeps extends Omit<ToolDeps, 'version'> {
  store: OAuthStore;
  publicUrl: string;
}

/** The SDK's own bound on a request body (4 MiB): a 1 MB prompt is read and judged, a larger body is a 413. */
const BODY_LIMIT = 4 * 1024 * 1024;

/** JSON-RPC 2.0 error object with no id: what MCP clients read from any refused request. */
function jsonRpcError(code: number, message: string) {
  return { jsonrpc: '2.0', error: { code, message }, id: null };
}

/**
 * Errors raised before the SDK sees a request: the bearer guard's (an OAuth
 * error body beside the WWW-Authenticate challenge, as the SDK's own
 * challenges have), and the framework's (a JSON-RPC error).
 */
function renderMcpError(error: ErrorClass, reply: FastifyReply): FastifyReply {
  if (error.kind !== 'client_gone' && error.coded instanceof AppError) {
    return reply.code(error.coded.status).send({ error: error.coded.code, error_description: error.coded.message });
  }
  switch (error.kind) {
    case 'client_gone':
      return reply.code(400).send(jsonRpcError(-32600, 'The request was cut off.'));
    case 'unavailable':
      return reply.code(503).send(jsonRpcError(-32603, 'The service is temporarily unavailable; try again shortly.'));
    case 'rate_limited':
      return reply.code(429).send(jsonRpcError(-32600, 'The request is not valid.'));
    case 'client_error':
      return reply.code(error.status).send(jsonRpcError(-32600, error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'The request body is larger than 4 MiB.' : 'The request is not valid.'));
    case 'server_error':
      return reply.code(500).send(jsonRpcError(-32603, 'The server had an error while processing the request.'));
  }
}

const sendMcpError = errorHandler(renderMcpError);

/**
 * A POST body parsed once, for the SDK (which would otherwise read and parse
 * it again) and to learn the one tool it calls; null when it is not JSON (the
 * SDK then reads it and answers -32700 itself).
 */
function parsedBody(body: unknown): { value: unknown } | null {
  if (!Buffer.isBuffer(body)) return null;
  try {
    return { value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return null;
  }
}

/** The one tool a message calls; undefined for anything else (then every tool is registered). */
function calledTool(message: unknown): string | undefined {
  const m = message as { method?: unknown; params?: { name?: unknown } } | null;
  return m?.method === 'tools/call' && typeof m.params?.name === 'string' ? m.params.name : undefined;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer | ReadableStream | null;
}

/** The Fastify request as the web-standard Request the SDK serves (the body already read, as bytes). */
function webRequest(request: FastifyRequest, publicUrl: string): Request {
  const headers = new Headers();
  const raw = request.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const body = request.method === 'POST' && Buffer.isBuffer(request.body) ? request.body : undefined;
  // No signal: the tools watch the connection themselves (McpCaller.signal), and a signal on every
  // Request costs a follow-signal in undici for nothing.
  return new Request(publicUrl + request.url, { method: request.method, headers, body });
}

/** A request header as a web Headers object gives it (repeated ones joined). */
function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * What the SDK reads of a request whose body is parsed already, on the way to
 * the 2025 revisions (isLegacyRequest, the stateless transport): its method
 * and headers.get(). Over Node's parsed headers, so no web Request (with its
 * Headers validation and AbortSignal) is built for a call that needs none;
 * the 2026 handler, which reads more, always gets a real one.
 */
function parsedRequest(request: FastifyRequest, publicUrl: string): Request {
  const get = (name: string): string | null => headerOf(request, name) ?? null;
  const headers = { get, has: (name: string) => get(name) !== null };
  return { method: request.method, url: publicUrl + request.url, headers } as unknown as Request;
}

/**
 * The 2025 revisions, stateless: a server and a transport per request, as the
 * SDK's own stateless fallback does, but answering with one JSON body
 * (enableJsonResponse) rather than a one-event stream — a third of the cost,
 * and the same for clients, which accept both. Sessions are not kept, so GET
 * and DELETE (session operations) are 405.
 */
async function serveLegacy(request: Request, serverFor: () => ReturnType<typeof createMcpServer>, authInfo: AuthInfo, parsed: { value: unknown } | null): Promise<Answer> {
  if (request.method !== 'POST') {
    const body = Buffer.from(JSON.stringify(jsonRpcError(-32000, 'Method not allowed: this server keeps no sessions; send JSON-RPC with POST.')));
    return { status: 405, headers: new Headers({ allow: 'POST', 'content-type': 'application/json' }), body };
  }
  const server = serverFor();
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  let answeredWhole = false;
  try {
    const response = await transport.handleRequest(request, parsed ? { authInfo, parsedBody: parsed.value } : { authInfo });
    const answer = { status: response.status, headers: response.headers, body: response.body ? Buffer.from(await response.arrayBuffer()) : null };
    answeredWhole = response.status === 200;
    return answer;
  } finally {
    // A 200 JSON answer means every request of the message was answered: nothing is in flight or
    // timed, so close() would only build a 'Connection closed' error for nobody (bench/NOTES.md).
    // Anything else (notifications still running, a refusal) is closed.
    if (!answeredWhole) await server.close();
  }
}

/**
 * Serika's MCP server at /mcp (SPEC §8): Streamable HTTP through the official
 * SDK — the 2026-07-28 revision through createMcpHandler, per request, and
 * the 2025 revisions stateless (a plain call by the process's shared server,
 * anything else by serveLegacy) — so any instance answers any call. Bearer
 * tokens only, through the §5 guard with the audience checked (a token for
 * /mcp or the origin); a foreign Origin is refused (DNS
 * rebinding, MCP transports §security); each tool's scope is the SDK's scope
 * challenge, a 403 insufficient_scope naming the scope and the metadata.
 */
export async function mcpRoutes(scope: FastifyInstance, deps: McpRouteDeps): Promise<void> {
  const resource = protectedResource(deps.publicUrl, MCP_PATH);
  const toolDeps: ToolDeps = { characters: deps.characters, gateway: deps.gateway, version: VERSION };
  const handler = createMcpHandler(() => createMcpServer(toolDeps), {
    legacy: 'reject',
    maxRequestBodySize: BODY_LIMIT,
    onerror: (error) => scope.log.debug({ err: error }, 'MCP request refused by the SDK'),
  });
  const shared = new SharedMcpServer(createMcpServer(toolDeps));
  const resourceUrl = new URL(resource.uri);
  scope.addHook('onClose', async () => handler.close());

  scope.setErrorHandler(sendMcpError);
  // The SDK reads the body itself: it judges the media type (415) and the JSON (-32700).
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, body, done) => done(null, body));

  const origin = new URL(deps.publicUrl).origin;
  scope.addHook('onRequest', async (request, reply) => {
    // Browsers send Origin; a page elsewhere must not drive the user's token here. No Origin is a non-browser client.
    const sent = request.headers.origin;
    if (sent !== undefined && sent !== origin) {
      // SPEC §8: every 401 and 403 of /mcp carries the challenge (realm, resource_metadata).
      bearerChallenge(request, reply);
      throw new AppError('forbidden_origin', `Requests from ${sent.slice(0, 100)} are not allowed; the MCP server answers ${origin} and non-browser clients.`);
    }
  });
  bearerGuard(scope, deps.store, resource);

  scope.route({
    method: ['GET', 'POST', 'DELETE'],
    url: MCP_PATH,
    bodyLimit: BODY_LIMIT,
    // SPEC §8: the 401 challenge names the scopes the tools need (MCP's scope selection reads it first).
    config: { neededScope: MCP_SCOPES },
    schema: { tags: ['mcp'], summary: 'MCP server (Streamable HTTP): tools whoami, list_characters, get_character, list_models, chat, generate_image', security: [{ accessToken: [] }] },
    handler: async (request, reply) => {
      const grant = bearerOf(request);
      const caller = new HttpCaller(grant, reply.raw);
      const parsed = request.method === 'POST' ? parsedBody(request.body) : null;
      const authInfo: AuthInfo = {
        token: '',
        clientId: grant.clientId,
        scopes: [...grant.scopeList],
        expiresAt: Math.floor(grant.expiresAt / 1000),
        resource: resourceUrl,
        resourceMetadataUrl: resource.metadataUrl,
        extra: { caller },
      };
      let answer: Answer;
      const plain = parsed && (await shared.answer({ message: parsed.value, header: (name) => headerOf(request, name), authInfo }));
      if (plain) return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(plain));
      const web = parsed ? parsedRequest(request, deps.publicUrl) : webRequest(request, deps.publicUrl);
      if (await isLegacyRequest(web, parsed?.value, { maxRequestBodySize: BODY_LIMIT })) {
        answer = await serveLegacy(web, () => createMcpServer(toolDeps, calledTool(parsed?.value)), authInfo, parsed);
      } else {
        const full = parsed ? webRequest(request, deps.publicUrl) : web;
        const response = await handler.fetch(full, parsed ? { authInfo, parsedBody: parsed.value } : { authInfo });
        // Event streams are relayed as they come; a single JSON answer is sent whole.
        const streamed = response.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
        answer = { status: response.status, headers: response.headers, body: streamed ? response.body : response.body && Buffer.from(await response.arrayBuffer()) };
      }
      reply.code(answer.status);
      answer.headers.forEach((value, name) => {
        if (name === 'www-authenticate') reply.header(name, withRealm(value));
        else if (name !== 'content-length') reply.header(name, value);
      });
      if (answer.body === null) return reply.send();
      return reply.send(Buffer.isBuffer(answer.body) ? answer.body : Readable.fromWeb(answer.body as NodeReadableStream));
    },
  });
}
