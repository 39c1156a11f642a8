import type { ServerResponse } from 'node:http';
import type { McpCaller } from './tools.js';

/**
 * The caller of one MCP call over HTTP. A class, with its getter on the
 * prototype: an object literal with a getter per call gets the call's garbage
 * promoted (bench/NOTES.md).
 */
export class HttpCaller implements McpCaller {
  readonly userId: string;
  readonly clientId: string;
  readonly username: string;
  readonly avatar: string | null;
  readonly agents: readonly string[] | null;
  readonly characters: readonly string[] | null;
  private controller: AbortController | undefined;

  constructor(
    grant: { userId: string; clientId: string; username: string; avatar: string | null; scopeList: readonly string[]; agents?: readonly string[] | null; characters?: readonly string[] | null },
    private readonly response: ServerResponse,
  ) {
    this.userId = grant.userId;
    this.clientId = grant.clientId;
    this.username = grant.username;
    this.avatar = grant.avatar;
    this.agents = grant.agents ?? null;
    // SPEC §15: without the `characters` scope the user was never asked which characters the app may see, so it
    // sees none (chat's character_id included), not all.
    this.characters = grant.scopeList.includes('characters') ? (grant.characters ?? null) : [];
  }

  /** Made when a tool first asks (the ones that call the upstream): an AbortSignal costs more than whoami. */
  get signal(): AbortSignal {
    if (!this.controller) {
      const made = (this.controller = new AbortController());
      const response = this.response;
      if (response.destroyed && !response.writableFinished) made.abort();
      response.on('close', () => {
        if (!response.writableFinished) made.abort();
      });
    }
    return this.controller.signal;
  }
}
