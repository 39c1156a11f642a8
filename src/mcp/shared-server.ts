import {
  PROTOCOL_VERSION_META_KEY,
  SUPPORTED_PROTOCOL_VERSIONS,
  isJSONRPCRequest,
  isJsonContentType,
  type AuthInfo,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type McpServer,
  type Transport,
} from '@modelcontextprotocol/server';

/**
 * Methods the shared server answers: the ones that leave no state on a
 * server. initialize (records the client), logging/setLevel (records a
 * level) and everything else go through a server of their own.
 */
const SHARED_METHODS = new Set(['tools/call', 'tools/list', 'ping']);

/** The SDK protocol's entry for one request, past its message-kind checks. */
type RequestEntry = (request: JSONRPCRequest, extra: { authInfo: AuthInfo }) => void;

/**
 * The protocol's own entry for a request (Protocol._onrequest), when this SDK
 * version has one. The callback it installs on a transport first tries every
 * message as a result and as an error response, two zod parses that fail for
 * every request; a failed parse returns an object with a getter, which gets
 * the call's garbage promoted (bench/NOTES.md).
 * answer() has classified the message already, with the SDK's
 * isJSONRPCRequest. Without the entry, requests go through onmessage.
 */
function requestEntry(server: McpServer): RequestEntry | undefined {
  const protocol = server.server as unknown as { _onrequest?: RequestEntry };
  const entry = protocol._onrequest;
  return typeof entry === 'function' ? entry.bind(protocol) : undefined;
}

type ScopeChallengeResolver = (context: { request: JSONRPCRequest; authInfo?: AuthInfo }) => unknown;

interface Waiting {
  id: JSONRPCRequest['id'];
  resolve: (message: JSONRPCMessage) => void;
}

/**
 * An SDK Transport over which one long-lived server answers requests from
 * every HTTP call at once. Request ids are the clients' own and may collide
 * across callers, so each is swapped for one unique to this process on the way
 * in and given back on the way out. Like the SDK's JSON answers
 * (enableJsonResponse), only the response is kept: notifications and requests
 * the server sends while answering have nowhere to go.
 */
class DispatchTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  scopeChallenge?: ScopeChallengeResolver;
  /** Where requests go: the protocol's request entry when the SDK has one, else onmessage. */
  deliver?: RequestEntry;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.onclose?.();
  }

  /** Called by McpServer.connect: the same per-tool scope rules the SDK's transports apply. */
  setScopeChallengeResolver(resolver: ScopeChallengeResolver): void {
    this.scopeChallenge = resolver;
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (!('id' in message) || 'method' in message || typeof message.id !== 'number') return;
    const waiting = this.waiting.get(message.id);
    if (!waiting) return;
    this.waiting.delete(message.id);
    waiting.resolve({ ...message, id: waiting.id });
  }

  dispatch(request: JSONRPCRequest, authInfo: AuthInfo): Promise<JSONRPCMessage> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.waiting.set(id, { id: request.id, resolve });
      const deliver = this.deliver ?? this.onmessage;
      deliver?.({ ...request, id }, { authInfo });
    });
  }
}

export interface SharedCall {
  /** The JSON-RPC message, parsed. */
  message: unknown;
  header: (name: string) => string | undefined;
  authInfo: AuthInfo;
}

/**
 * One McpServer for the process, answering the plain case of the 2025
 * revisions' stateless serving — a single request for a tool call, the tool
 * list or a ping, with every header the SDK's transport demands — without
 * building a server and a transport per call (bench/NOTES.md). Everything
 * else (initialize, notifications, batches, sessions' GET
 * and DELETE, the 2026 revision, every refusal the SDK's transport writes,
 * scope challenges) is left to the SDK's transport: answer() returns null.
 */
export class SharedMcpServer {
  private readonly transport = new DispatchTransport();
  private readonly connected: Promise<void>;

  constructor(server: McpServer) {
    this.connected = server.connect(this.transport).then(() => {
      this.transport.deliver = requestEntry(server);
    });
  }

  async answer(call: SharedCall): Promise<JSONRPCMessage | null> {
    const { message, header, authInfo } = call;
    // The SDK transport's header rules (handlePostRequest): otherwise it writes the refusal.
    const accept = header('accept');
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return null;
    if (!isJsonContentType(header('content-type') ?? null)) return null;
    const version = header('mcp-protocol-version');
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return null;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return null;
    const method = (message as { method?: unknown }).method;
    if (typeof method !== 'string' || !SHARED_METHODS.has(method) || !isJSONRPCRequest(message)) return null;
    // A 2025-revision request (the SDK's classifyRequestBody): no 2026 envelope claim, and the header (checked above) names no 2026 revision.
    const meta = message.params?._meta;
    if (meta !== undefined && PROTOCOL_VERSION_META_KEY in meta) return null;
    await this.connected;
    if (this.transport.scopeChallenge && (await this.transport.scopeChallenge({ request: message, authInfo })) !== undefined) return null;
    return this.transport.dispatch(message, authInfo);
  }
}
