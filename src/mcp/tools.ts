import { formatScopes } from '../scopes.js';
import { SERVED_REVISIONS, discoverEveryRevision } from './revisions.js';
import { McpServer, requireScopes, type AuthInfo, type CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Gateway } from '../generation/gateway.js';
import type { GatewayResult } from '../generation/results.js';
import type { Principal } from '../generation/usage.js';
import type { Character, CharactersService } from '../resources/characters/service.js';

/** Who the MCP request acts for: the bearer token's user and app. */
export interface McpCaller {
  userId: string;
  clientId: string;
  username: string;
  avatar: string | null;
  /** A sub-agent token's lineage (SPEC §15): its caps apply to the tools' generations too. */
  agents: readonly string[] | null;
  /** The characters the token may see (SPEC §15): ids, or null for all. */
  characters: readonly string[] | null;
  /** Aborted when the HTTP request goes away. */
  signal: AbortSignal;
}

/** The caller of one tool call, which the route put in the call's authInfo (so one server can serve every caller). */
function callerOf(ctx: { http?: { authInfo?: AuthInfo } }): McpCaller {
  return (ctx.http?.authInfo?.extra as { caller: McpCaller }).caller;
}

export interface ToolDeps {
  characters: CharactersService;
  gateway: Gateway;
  version: string;
}

/** Longest prompt or message a tool takes: far beyond any real prompt, far below the 4 MB body limit. */
const MAX_TEXT = 100_000;
const MAX_MESSAGES = 200;

const text = (value: unknown): CallToolResult => ({ content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }] });
const structured = (value: Record<string, unknown>): CallToolResult => ({ ...text(value), structuredContent: value });
/** An execution error the model can read and act on (MCP: isError results, not protocol errors). */
const failed = (message: string): CallToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

function characterSummary(c: Character) {
  return { id: c.id, name: c.name, description: c.description };
}

/** The character's personality and greeting as the system persona (SPEC §8). */
function personaOf(c: Character): string {
  const parts = [`You are ${c.name}, a character the user created on Serika. Stay in character.`];
  if (c.description) parts.push(`About you: ${c.description}`);
  if (c.personality) parts.push(`Your personality: ${c.personality}`);
  if (c.greeting) parts.push(`You greet people like this: ${c.greeting}`);
  return parts.join('\n');
}

function gatewayJson(result: GatewayResult): Record<string, unknown> | string {
  if (result.kind === 'error') return result.body.error.message;
  if (result.kind === 'stream') {
    result.events.destroy();
    return 'The upstream answered with a stream where a single answer was asked for.';
  }
  try {
    return JSON.parse(result.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'The generation upstream answered with something that is not JSON.';
  }
}

/** Gateway errors (no upstream, upstream down or silent) are the tool's errors, told in words. */
async function guarded(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AppError) return failed(error.message);
    throw error;
  }
}

const messageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(MAX_TEXT),
});

// Built once: a server is made per request (stateless serving), and building schemas is most of its cost.
const NO_INPUT = z.object({});
const CHARACTER_INPUT = z.object({ character_id: z.string().min(1).max(200).describe('The id from list_characters, such as char_…') });
const CHAT_INPUT = z.object({
  prompt: z.string().min(1).max(MAX_TEXT).optional().describe('A single user message; or give messages.'),
  messages: z.array(messageSchema).min(1).max(MAX_MESSAGES).optional().describe('The conversation so far, oldest first.'),
  character_id: z.string().min(1).max(200).optional().describe('Answer as this character of the user (from list_characters).'),
  model: z.string().min(1).max(200).optional().describe('A model from list_models; the upstream default when absent.'),
  max_tokens: z.number().int().min(1).max(1_000_000).optional(),
});
const IMAGE_INPUT = z.object({
  prompt: z.string().min(1).max(MAX_TEXT),
  model: z.string().min(1).max(200).optional(),
  size: z
    .string()
    .regex(/^\d{2,5}x\d{2,5}$/)
    .optional()
    .describe('Such as 1024x1024.'),
});
const NEEDS = { profile: requireScopes('profile'), characters: requireScopes('characters'), generations: requireScopes('generations') };
/** Every scope a tool needs: what a 401 at /mcp names (SPEC §8), so a client asks for them all at once. */
export const MCP_SCOPES = formatScopes(Object.keys(NEEDS));
const READ_ONLY = { readOnlyHint: true, openWorldHint: false };

/**
 * Serika's MCP tools (SPEC §8), each acting for the caller of its call. Each declares the scope it
 * needs; a call without it is answered HTTP 403 insufficient_scope by the
 * SDK's scope challenge (MCP step-up), before the tool runs.
 */
function registerTools(mcp: McpServer, deps: ToolDeps, onlyTool?: string): void {
  const server = {
    registerTool: ((name: string, ...rest: unknown[]) => {
      if (onlyTool === undefined || onlyTool === name) (mcp.registerTool as (...args: unknown[]) => unknown)(name, ...rest);
    }) as McpServer['registerTool'],
  };
  const principalOf = (caller: McpCaller): Principal => ({ userId: caller.userId, clientId: caller.clientId, apiKeyId: null, agents: caller.agents });
  const character = async (caller: McpCaller, id: string): Promise<Character | null> => {
    try {
      return await deps.characters.get(caller, id);
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') return null;
      throw error;
    }
  };

  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description: "The Serika user this connection acts for: user ID, username and avatar URL.",
      inputSchema: NO_INPUT,
      annotations: READ_ONLY,
      scopeChallenge: NEEDS.profile,
    },
    async (_args, ctx) => {
      const caller = callerOf(ctx);
      return structured({ id: caller.userId, username: caller.username, avatar: caller.avatar });
    },
  );

  server.registerTool(
    'list_characters',
    {
      title: 'List characters',
      description: "The user's characters on Serika (id, name, description). Use get_character for one character's personality and greeting.",
      inputSchema: NO_INPUT,
      annotations: READ_ONLY,
      scopeChallenge: NEEDS.characters,
    },
    async (_args, ctx) => {
      const list = await deps.characters.list(callerOf(ctx));
      return structured({ characters: list.map(characterSummary) });
    },
  );

  server.registerTool(
    'get_character',
    {
      title: 'Get a character',
      description: "One of the user's characters, with its description, personality, greeting and avatar.",
      inputSchema: CHARACTER_INPUT,
      annotations: READ_ONLY,
      scopeChallenge: NEEDS.characters,
    },
    async ({ character_id }, ctx) => {
      const found = await character(callerOf(ctx), character_id);
      // Another user's character is simply not found: nothing about it is told.
      if (!found) return failed(`No character ${character_id} among your characters. Use list_characters to see them.`);
      return structured({ ...found });
    },
  );

  server.registerTool(
    'list_models',
    {
      title: 'List models',
      description: 'The models Serika can generate with (from its upstream provider).',
      inputSchema: NO_INPUT,
      annotations: { readOnlyHint: true, openWorldHint: true },
      scopeChallenge: NEEDS.generations,
    },
    async (_args, ctx) =>
      guarded(async () => {
        const answer = gatewayJson(await deps.gateway.models(callerOf(ctx).signal));
        if (typeof answer === 'string') return failed(answer);
        const models = Array.isArray(answer.data) ? (answer.data as Array<{ id?: unknown }>).map((m) => String(m.id)) : [];
        return structured({ models });
      }),
  );

  server.registerTool(
    'chat',
    {
      title: 'Chat',
      description:
        'Generates a chat completion on Serika, metered to the user for this app. Give either messages (OpenAI chat format) or a prompt. With character_id, the character (its personality and greeting) answers in persona.',
      inputSchema: CHAT_INPUT,
      annotations: { readOnlyHint: false, openWorldHint: true },
      scopeChallenge: NEEDS.generations,
    },
    async ({ prompt, messages, character_id, model, max_tokens }, ctx) =>
      guarded(async () => {
        const caller = callerOf(ctx);
        if ((prompt === undefined) === (messages === undefined)) return failed('Give either prompt or messages (one of the two).');
        const conversation: Array<{ role: string; content: string }> = messages ? [...messages] : [{ role: 'user', content: prompt! }];
        if (character_id !== undefined) {
          const found = await character(caller, character_id);
          if (!found) return failed(`No character ${character_id} among your characters. Use list_characters to see them.`);
          conversation.unshift({ role: 'system', content: personaOf(found) });
        }
        const body: Record<string, unknown> = { messages: conversation, stream: false };
        if (model !== undefined) body.model = model;
        if (max_tokens !== undefined) body.max_tokens = max_tokens;
        const answer = gatewayJson(await deps.gateway.chat(principalOf(caller), body, caller.signal));
        if (typeof answer === 'string') return failed(answer);
        const choice = Array.isArray(answer.choices) ? (answer.choices[0] as { message?: { content?: unknown } } | undefined) : undefined;
        const reply = typeof choice?.message?.content === 'string' ? choice.message.content : '';
        return {
          content: [{ type: 'text', text: reply }],
          structuredContent: { reply, model: answer.model ?? model ?? null, usage: answer.usage ?? null },
        };
      }),
  );

  server.registerTool(
    'generate_image',
    {
      title: 'Generate an image',
      description: 'Generates an image on Serika from a prompt, metered to the user for this app. Returns the image, or its URL when the upstream gives one.',
      inputSchema: IMAGE_INPUT,
      annotations: { readOnlyHint: false, openWorldHint: true },
      scopeChallenge: NEEDS.generations,
    },
    async ({ prompt, model, size }, ctx) =>
      guarded(async () => {
        const caller = callerOf(ctx);
        const body: Record<string, unknown> = { prompt, n: 1 };
        if (model !== undefined) body.model = model;
        if (size !== undefined) body.size = size;
        const answer = gatewayJson(await deps.gateway.images(principalOf(caller), body, caller.signal));
        if (typeof answer === 'string') return failed(answer);
        const images = Array.isArray(answer.data) ? (answer.data as Array<{ b64_json?: unknown; url?: unknown }>) : [];
        const content: CallToolResult['content'] = [];
        for (const image of images) {
          if (typeof image.b64_json === 'string') content.push({ type: 'image', data: image.b64_json, mimeType: 'image/png' });
          else if (typeof image.url === 'string') content.push({ type: 'text', text: image.url });
        }
        if (content.length === 0) return failed('The upstream returned no image.');
        return { content };
      }),
  );
}

/**
 * A server with Serika's tools: one per request for the SDK's transports
 * (onlyTool: the one tool the request calls, when it calls one), or the
 * process's shared one (every tool).
 */
export function createMcpServer(deps: ToolDeps, onlyTool?: string): McpServer {
  const server = new McpServer(
    { name: 'serika', title: 'Serika', version: deps.version },
    {
      // SPEC §8: version errors name every revision served (the transport reads this list).
      supportedProtocolVersions: [...SERVED_REVISIONS],
      instructions:
        "Serika is the user's AI platform account: their characters, and text and image generation metered to them. Use list_characters and get_character to learn a character; chat with character_id to answer as it.",
    },
  );
  registerTools(server, deps, onlyTool);
  discoverEveryRevision(server.server);
  return server;
}
