import type { FastifyInstance } from 'fastify';
import { InvalidBody, decodeUtf8 } from './json-body.js';

/**
 * A parsed application/x-www-form-urlencoded body: each field is a string,
 * or an array of strings when it was given more than once (so endpoints can
 * refuse duplicates, RFC 6749 §3.1). `a[b]=c` stays a field named "a[b]"
 * (TK-16), and the object has no prototype to poison.
 */
export type FormBody = Record<string, string | string[]>;

/**
 * The prototype of every parsed form, itself without one: a field named like a member of Object.prototype
 * (`__proto__`, `constructor`) is an own field like any other, and the prototype says the object is a form.
 * Not an object without a prototype, which V8 keeps as a dictionary from its first field, nor a WeakSet of
 * forms: the two cost 1.7 µs per introspection's body, this 0.4 (bench/NOTES.md, issue 39).
 */
const FORM: object = Object.freeze(Object.create(null) as object);

/** Whether a parsed body came from a form (where a repeated field is an array) rather than JSON. */
export function isFormBody(body: unknown): body is FormBody {
  return typeof body === 'object' && body !== null && Object.getPrototypeOf(body) === FORM;
}

/** One application/x-www-form-urlencoded name or value; throws on a malformed percent-encoding or non-UTF-8 bytes. */
export function decodeComponent(text: string): string {
  // Most fields (codes, verifiers, client ids and secrets) hold neither: nothing to decode.
  if (!text.includes('%') && !text.includes('+')) return text;
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

/**
 * Strict: a malformed percent-encoding, or bytes (raw or percent-encoded)
 * that are not UTF-8, throw, where URLSearchParams would keep them or turn
 * them into U+FFFD.
 */
export function parseForm(text: string): FormBody {
  const out = Object.create(FORM) as FormBody;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

/** Registers the form parser on one scope (pages, OAuth endpoints); the JSON API never accepts forms. */
export function registerFormBody(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    const text = decodeUtf8(body as Buffer);
    if (text === null) return done(new InvalidBody('The form body is not valid UTF-8.'), undefined);
    try {
      done(null, parseForm(text));
    } catch {
      done(new InvalidBody('The form body has a malformed percent-encoding or is not UTF-8.'), undefined);
    }
  });
}

/** A single-valued text field, or undefined when absent, empty, repeated or not text. */
export function field(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
