import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';

class InvalidJsonBody extends Error {
  readonly statusCode = 400;
  readonly code = 'FST_ERR_CTP_INVALID_JSON_BODY';
}

/**
 * JSON bodies: an empty body counts as no body (a POST with
 * `Content-Type: application/json` and nothing to send is common from
 * cURL), and prototype-poisoning keys are refused, as Fastify's own parser does.
 */
export function registerJsonBody(app: FastifyInstance): void {
  // The API speaks JSON only: other types are a 415, not a string body.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/i, { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      done(new InvalidJsonBody('The request body is not valid JSON.'), undefined);
    }
  });
}
