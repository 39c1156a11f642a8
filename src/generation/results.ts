import type { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { openAIErrorBody, type OpenAIErrorBody } from '../http/openai-errors.js';
import { isObject, parseJson } from './json.js';

/** What the app is answered: the upstream's JSON as it came, an error of its own, or an event stream. */
export type GatewayResult =
  | { kind: 'json'; status: number; body: Buffer; headers?: Record<string, string> }
  | { kind: 'error'; status: number; body: OpenAIErrorBody; headers?: Record<string, string> }
  | { kind: 'stream'; events: Readable; headers?: Record<string, string> };

/** The status a failed upstream answer is recorded with: what the app receives. */
export function upstreamFailureStatus(status: number): number {
  return status >= 500 || status === 401 || status === 403 || status < 400 ? 502 : status;
}

/** Non-2xx from the upstream (SPEC §5): its 4xx passed on, its 401/403 and 5xx a 502. */
export function rejected(status: number, raw: Buffer): GatewayResult {
  if (status === 401 || status === 403) throw new AppError('upstream_error', "The generation upstream refused Serika's credentials (UPSTREAM_API_KEY).");
  if (status < 400 || status >= 500) throw new AppError('upstream_error', `The generation upstream failed (status ${status}).`);
  const json = parseJson(raw);
  if (isObject(json) && isObject(json.error)) {
    const e = json.error;
    return {
      kind: 'error',
      status,
      body: {
        error: {
          message: typeof e.message === 'string' ? e.message : `The generation upstream refused the request (status ${status}).`,
          type: typeof e.type === 'string' ? e.type : 'invalid_request_error',
          param: typeof e.param === 'string' ? e.param : null,
          code: typeof e.code === 'string' ? e.code : null,
        },
      },
    };
  }
  return { kind: 'error', status, body: openAIErrorBody(new AppError('invalid_request', `The generation upstream refused the request (status ${status}).`)) };
}
