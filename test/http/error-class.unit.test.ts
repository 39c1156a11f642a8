import Fastify, { LogController, type FastifyRequest } from 'fastify';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { classifyError, RateLimited, type ErrorClass } from '../../src/http/error-class.js';
import { errorHandler } from '../../src/http/error-handler.js';
import { InvalidBody } from '../../src/http/json-body.js';
import { retryAfterValue, UNAVAILABLE_RETRY_AFTER } from '../../src/http/retry-after.js';
import { OAuthError } from '../../src/oauth/protocol/errors.js';

/** What the classifier reads of a request: whether its connection is still there. */
const live = { raw: { aborted: false, socket: { destroyed: false } } } as unknown as FastifyRequest;
const hungUp = { raw: { aborted: true, socket: { destroyed: false } } } as unknown as FastifyRequest;
const socketGone = { raw: { aborted: false, socket: { destroyed: true } } } as unknown as FastifyRequest;

/** An error as Fastify or a library throws it: an Error with extra fields. */
const thrown = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), fields);

const kindOf = (error: unknown, request = live) => classifyError(error, request).kind;

describe('classifyError: what an error is, once for every format', () => {
  it('client_gone: the request was aborted or its socket is gone, whatever was thrown', () => {
    expect(classifyError(new AppError('not_found', 'No such client.'), hungUp)).toEqual({ kind: 'client_gone' });
    expect(kindOf(new Error('boom'), socketGone)).toBe('client_gone');
    // Node's "aborted" ECONNRESET while the body was read: a client gone, not a database outage.
    expect(kindOf(thrown('aborted', { code: 'ECONNRESET' }))).toBe('client_gone');
    // The same code without "aborted" is a connection to the database lost.
    expect(kindOf(thrown('read ECONNRESET', { code: 'ECONNRESET' }))).toBe('unavailable');
    expect(kindOf(new AppError('not_found', 'No such client.'))).toBe('client_error');
  });

  it('unavailable: the database cannot serve, or a coded or framework 503, always with the one Retry-After', () => {
    expect(classifyError(thrown('terminating connection due to administrator command', { code: '57P01' }), live)).toEqual({
      kind: 'unavailable',
      retryAfter: UNAVAILABLE_RETRY_AFTER,
      coded: null,
    });
    expect(UNAVAILABLE_RETRY_AFTER).toBe(1);
    const notConfigured = new AppError('upstream_not_configured', 'Set UPSTREAM_BASE_URL.');
    expect(classifyError(notConfigured, live)).toEqual({ kind: 'unavailable', retryAfter: 1, coded: notConfigured });
    expect(kindOf(thrown('Service Unavailable', { statusCode: 503 }))).toBe('unavailable');
    expect(kindOf(thrown('SQLITE_BUSY: database is locked', { code: 'SQLITE_BUSY' }))).toBe('unavailable');
    // A protocol violation is a fault of ours, not an outage; a coded error is never taken for one by its message.
    expect(kindOf(thrown('bind message supplies 1 parameters', { code: '08P01' }))).toBe('server_error');
    expect(kindOf(new AppError('invalid_value', 'database is locked'))).toBe('client_error');
  });

  it('rate_limited: the limit that knows when it lifts says so; one that does not has no Retry-After', () => {
    expect(classifyError(new RateLimited(42.2), live)).toEqual({ kind: 'rate_limited', retryAfter: 42.2, coded: null });
    const registrations = new OAuthError('invalid_request', 'Too many registrations.', { status: 429, retryAfter: 3600 });
    expect(classifyError(registrations, live)).toEqual({ kind: 'rate_limited', retryAfter: 3600, coded: registrations });
    expect(classifyError(thrown('Rate limit exceeded', { statusCode: 429 }), live)).toEqual({ kind: 'rate_limited', retryAfter: null, coded: null });
    const coded = new AppError('rate_limit_exceeded', 'Slow down.');
    expect(classifyError(coded, live)).toEqual({ kind: 'rate_limited', retryAfter: null, coded });
    // A retryAfter on an error that is not a 429 makes it no rate limit.
    expect(kindOf(new OAuthError('invalid_client', 'Fetch failed.', { status: 400, retryAfter: 5 }))).toBe('client_error');
  });

  it('client_error: a coded 4xx is carried as it is, with its code and words', () => {
    const notFound = new AppError('not_found', 'No such client.');
    expect(classifyError(notFound, live)).toEqual({
      kind: 'client_error',
      status: 404,
      coded: notFound,
      code: 'not_found',
      message: 'No such client.',
      malformedJson: false,
      validation: null,
    });
    const grant = new OAuthError('invalid_grant', 'The code was used.');
    expect(classifyError(grant, live)).toMatchObject({ kind: 'client_error', status: 400, coded: grant, code: 'invalid_grant' });
  });

  it("client_error: the framework's refusals keep their code, never their words; ours keep both", () => {
    expect(classifyError(thrown('Request body is too large', { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }), live)).toMatchObject({
      kind: 'client_error',
      status: 413,
      coded: null,
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      message: null,
      malformedJson: false,
    });
    expect(classifyError(thrown("Body is not valid JSON: '{\"a\":'", { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), live)).toMatchObject({
      malformedJson: true,
      message: null,
    });
    expect(classifyError(new InvalidBody('The request body is nested too deeply.'), live)).toMatchObject({
      kind: 'client_error',
      status: 400,
      malformedJson: true,
      message: 'The request body is nested too deeply.',
    });
    expect(classifyError(thrown('Cross-site form submissions are refused.', { statusCode: 403, code: 'SERIKA_CROSS_SITE' }), live)).toMatchObject({
      status: 403,
      code: 'SERIKA_CROSS_SITE',
      message: 'Cross-site form submissions are refused.',
    });
    expect(classifyError(thrown('Invalid csrf token', { statusCode: 403, code: 'FST_CSRF_INVALID_TOKEN' }), live)).toMatchObject({ code: 'FST_CSRF_INVALID_TOKEN', message: null });
    expect(classifyError(Object.assign(new SyntaxError('Unexpected token'), { statusCode: 400 }), live)).toMatchObject({ malformedJson: true, code: null });
    // A coded error is never "malformed JSON", whatever its code.
    expect(classifyError(new AppError('invalid_json', 'Not JSON.'), live)).toMatchObject({ malformedJson: false, code: 'invalid_json' });
  });

  it("client_error: a schema's refusal carries ajv's findings and the part it judged", () => {
    const findings = [{ keyword: 'required', instancePath: '', params: { missingProperty: 'name' }, message: "must have required property 'name'" }];
    expect(classifyError(thrown('body must have required property', { statusCode: 400, code: 'FST_ERR_VALIDATION', validation: findings, validationContext: 'body' }), live)).toMatchObject({
      kind: 'client_error',
      validation: { errors: findings, context: 'body' },
    });
    expect(classifyError(thrown('Bad Request', { statusCode: 400 }), live)).toMatchObject({ kind: 'client_error', validation: null, code: null });
  });

  it('server_error: anything else is a fault of ours, a 500 unless a coded error names its 5xx', () => {
    expect(classifyError(new TypeError("Cannot read properties of undefined (reading 'id')"), live)).toEqual({ kind: 'server_error', status: 500, coded: null });
    const upstream = new AppError('upstream_timeout', 'The generation upstream did not answer in time.');
    expect(classifyError(upstream, live)).toEqual({ kind: 'server_error', status: 504, coded: upstream });
    expect(kindOf(new OAuthError('server_error', 'Failed.'))).toBe('server_error');
    expect(kindOf(null)).toBe('server_error');
    expect(kindOf('a string')).toBe('server_error');
    // A status outside 400–599 is no status.
    expect(classifyError(thrown('odd', { statusCode: 302 }), live)).toEqual({ kind: 'server_error', status: 500, coded: null });
  });
});

describe('retryAfterValue: whole seconds, at least one', () => {
  it.each([
    [0, '1'],
    [0.2, '1'],
    [1, '1'],
    [42.2, '43'],
    [3600, '3600'],
  ])('%s s → %s', (seconds, header) => {
    expect(retryAfterValue(seconds)).toBe(header);
  });
});

describe('errorHandler: one log rule and one Retry-After rule for every format', () => {
  async function answer(error: unknown) {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const app = Fastify({ logger: { level: 'trace', stream }, logController: new LogController({ disableRequestLogging: true }) });
    const seen: ErrorClass[] = [];
    app.setErrorHandler(
      errorHandler((classified, reply) => {
        seen.push(classified);
        return reply.code(classified.kind === 'client_gone' ? 400 : 'status' in classified ? classified.status : 429).send({ kind: classified.kind });
      }),
    );
    app.get('/', () => {
      throw error;
    });
    const reply = await app.inject({ method: 'GET', url: '/' });
    await app.close();
    return { reply, lines: lines.map(({ level, msg, err }) => ({ level, msg, err: err !== undefined })), seen };
  }

  it('client gone: an info line, no Retry-After', async () => {
    const { reply, lines } = await answer(thrown('aborted', { code: 'ECONNRESET' }));
    expect(reply.json()).toEqual({ kind: 'client_gone' });
    expect(reply.headers['retry-after']).toBeUndefined();
    expect(lines).toEqual([{ level: 30, msg: 'client closed the connection before its request was read', err: false }]);
  });

  it('unavailable: a warning with the error, and Retry-After 1', async () => {
    const { reply, lines } = await answer(thrown('Connection terminated unexpectedly', {}));
    expect(reply.json()).toEqual({ kind: 'unavailable' });
    expect(reply.headers['retry-after']).toBe('1');
    expect(lines).toEqual([{ level: 40, msg: 'request refused: service unavailable', err: true }]);
  });

  it("rate limited: no log line, and the limit's own wait in whole seconds", async () => {
    const { reply, lines } = await answer(new RateLimited(42.2));
    expect(reply.json()).toEqual({ kind: 'rate_limited' });
    expect(reply.headers['retry-after']).toBe('43');
    expect(lines).toEqual([]);
    const unknown = await answer(thrown('Too many', { statusCode: 429 }));
    expect(unknown.reply.headers['retry-after']).toBeUndefined();
    expect(unknown.lines).toEqual([]);
  });

  it('client error: no log line, no Retry-After', async () => {
    const { reply, lines } = await answer(new AppError('not_found', 'No such client.'));
    expect(reply.statusCode).toBe(404);
    expect(reply.headers['retry-after']).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('server error: an error line with the error, no Retry-After', async () => {
    const { reply, lines, seen } = await answer(new Error('boom'));
    expect(seen).toEqual([{ kind: 'server_error', status: 500, coded: null }]);
    expect(reply.statusCode).toBe(500);
    expect(reply.headers['retry-after']).toBeUndefined();
    expect(lines).toEqual([{ level: 50, msg: 'request failed', err: true }]);
  });
});
