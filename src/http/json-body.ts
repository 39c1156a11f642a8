import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';

/** A body refused by our parsers; the message is ours and never quotes the input. */
export class InvalidBody extends Error {
  readonly statusCode = 400;
  readonly code = 'FST_ERR_CTP_INVALID_JSON_BODY';
}

/** Deeper than any real request (OpenAI tool schemas included); deeper input is refused before parsing. */
const MAX_JSON_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** RFC 8259 §8.1: JSON text is UTF-8. Invalid bytes are refused, never turned into U+FFFD. */
export function decodeUtf8(body: Buffer): string | null {
  try {
    return utf8.decode(body);
  } catch {
    return null;
  }
}

/** The deepest nesting of arrays and objects in a JSON text, counted without parsing it (strings skipped). */
function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * JSON bodies: an empty body counts as no body (a POST with
 * `Content-Type: application/json` and nothing to send is common from
 * cURL), and prototype-poisoning keys are refused, as Fastify's own parser
 * does. Invalid UTF-8 and nesting deeper than MAX_JSON_DEPTH are a 400.
 */
export function registerJsonBody(app: FastifyInstance): void {
  // The API speaks JSON only: other types are a 415, not a string body.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/i, { parseAs: 'buffer' }, (_request, body, done) => {
    const text = decodeUtf8(body as Buffer);
    if (text === null) return done(new InvalidBody('The request body is not valid UTF-8.'), undefined);
    if (text.trim() === '') return done(null, undefined);
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      return done(new InvalidBody(`The request body nests deeper than ${MAX_JSON_DEPTH} levels.`), undefined);
    }
    try {
      done(null, sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      done(new InvalidBody('The request body is not valid JSON.'), undefined);
    }
  });
}
