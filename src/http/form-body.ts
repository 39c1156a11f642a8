import type { FastifyInstance } from 'fastify';

/**
 * A parsed application/x-www-form-urlencoded body: each field is a string,
 * or an array of strings when it was given more than once (so endpoints can
 * refuse duplicates, RFC 6749 §3.1). `a[b]=c` stays a field named "a[b]"
 * (TK-16), and the object has no prototype to poison.
 */
export type FormBody = Record<string, string | string[]>;

export function parseForm(text: string): FormBody {
  const out: FormBody = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

/** Registers the form parser on one scope (pages, OAuth endpoints); the JSON API never accepts forms. */
export function registerFormBody(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, parseForm(body as string));
  });
}

/** A single-valued text field, or undefined when absent, empty, repeated or not text. */
export function field(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
