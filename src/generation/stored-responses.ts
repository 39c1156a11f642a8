import { AppError, invalidValue } from '../errors.js';
import { isObject, parseJson } from './json.js';
import type { ResponseOwners } from './response-owners.js';
import { rejected, type GatewayResult } from './results.js';
import type { UpstreamClient } from './upstream.js';
import type { Principal } from './usage.js';

type Json = Record<string, unknown>;

/** OpenAI's own 404 for a response id, so an SDK shows it as it would the upstream's. */
const unknownResponse = (id: string, param: string | null = null) =>
  new AppError('not_found', `Response with id '${id.slice(0, 100)}' not found.`, param);

/** Query parameters a retrieval passes on (a streamed replay of a background response is not served), and a listing of its input items. */
const PASSED_QUERY = { response: new Set(['include', 'include[]']), input_items: new Set(['include', 'include[]', 'after', 'before', 'limit', 'order']) } as const;

/**
 * Responses the upstream keeps (SPEC §14). Their ids are global at the
 * upstream (Serika's one key serves every user), so every reference to one —
 * GET, DELETE, a new call's previous_response_id — is answered only for the
 * user and app that made it (response-owners.ts), and `404` for anyone else,
 * never forwarded.
 */
export class StoredResponses {
  constructor(
    private readonly upstream: UpstreamClient,
    private readonly owners: ResponseOwners,
  ) {}

  /**
   * What a new Responses API call refers to, before anything is reserved or sent: the tokens of the response it
   * continues (0 when none), or the error. Refused outright: references Serika cannot attribute to an owner
   * (a conversation, an item by id) and background responses (their usage comes after the call; SPEC §10 could
   * not charge it).
   */
  async admit(principal: Principal, body: Json): Promise<number> {
    if (body.background === true) throw invalidValue('background', "Invalid 'background': background responses are not served through Serika; stream the response instead.");
    if (body.conversation !== undefined && body.conversation !== null) {
      throw invalidValue('conversation', "Invalid 'conversation': conversations are not served through Serika; continue a response with previous_response_id.");
    }
    if (Array.isArray(body.input)) {
      for (const [i, item] of body.input.entries()) {
        if (isObject(item) && item.type === 'item_reference') throw invalidValue(`input[${i}]`, `Invalid 'input[${i}]': item references are not served through Serika; send the item itself.`);
      }
    }
    const previous = body.previous_response_id;
    if (previous === undefined || previous === null) return 0;
    if (typeof previous !== 'string') throw new AppError('invalid_type', "Invalid type for 'previous_response_id': expected a string.", 'previous_response_id');
    const owned = await this.owners.find(principal, previous);
    if (!owned) throw unknownResponse(previous, 'previous_response_id');
    return owned.contextTokens;
  }

  /** GET /responses/:id (or its /input_items) of the caller's own response, passed to the upstream with the query it knows. */
  async retrieve(principal: Principal, id: string, what: 'response' | 'input_items', query: string, signal: AbortSignal): Promise<GatewayResult> {
    await this.own(principal, id);
    const passed = new URLSearchParams();
    for (const [name, value] of new URLSearchParams(query)) if (PASSED_QUERY[what].has(name)) passed.append(name, value);
    const search = passed.size ? `?${passed.toString()}` : '';
    return this.forward('GET', `/responses/${encodeURIComponent(id)}${what === 'input_items' ? '/input_items' : ''}${search}`, signal);
  }

  /** DELETE /responses/:id of the caller's own response; once the upstream has deleted it, its owner row goes too. */
  async remove(principal: Principal, id: string, signal: AbortSignal): Promise<GatewayResult> {
    await this.own(principal, id);
    const result = await this.forward('DELETE', `/responses/${encodeURIComponent(id)}`, signal);
    // 404: the upstream has it no longer either.
    if (result.kind === 'json' || (result.kind === 'error' && result.status === 404)) await this.owners.forget(id);
    return result;
  }

  private async own(principal: Principal, id: string): Promise<void> {
    if (!(await this.owners.find(principal, id))) throw unknownResponse(id);
  }

  private async forward(method: 'GET' | 'DELETE', path: string, signal: AbortSignal): Promise<GatewayResult> {
    const response = await this.upstream.send(method, path, undefined, signal);
    const raw = await this.upstream.readAll(response);
    if (response.statusCode >= 300) return rejected(response.statusCode, raw);
    if (!isObject(parseJson(raw))) throw new AppError('upstream_error', 'The generation upstream answered with something that is not JSON.');
    return { kind: 'json', status: 200, body: raw };
  }
}
