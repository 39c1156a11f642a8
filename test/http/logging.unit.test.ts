import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { censorFields, loggerOptions, redactUrl } from '../../src/http/logging.js';

/** A logger with the server's options whose lines are kept, parsed. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino(loggerOptions('trace'), sink), lines };
}

describe('log censoring', () => {
  it('censors credential fields one level down in what is logged, as pino\'s "*.field" paths did', () => {
    const { log, lines } = capture();
    const body = { client_id: 'c1', client_secret: 'secret_x', code_verifier: 'v', nested: { password: 'deeper' } };
    log.info({ body, user: { password: 'pw', username: 'ann' }, list: ['password'], count: 3 }, 'request');
    expect(lines[0]).toMatchObject({
      msg: 'request',
      body: { client_id: 'c1', client_secret: '[REDACTED]', code_verifier: '[REDACTED]' },
      user: { password: '[REDACTED]', username: 'ann' },
      list: ['password'],
      count: 3,
    });
    // One level, as `*.password` was: deeper fields are not searched (nothing logs them; bodies are never logged).
    expect((lines[0]!.body as { nested: unknown }).nested).toEqual({ password: 'deeper' });
    // The caller's objects are left as they were.
    expect(body.client_secret).toBe('secret_x');
  });

  it("censors a child logger's lines as the root's, and keeps the exact header paths", () => {
    const { log, lines } = capture();
    const child = log.child({ reqId: 'r1' });
    child.warn({ headers: { authorization: 'Bearer at_secret', cookie: 'session=s', accept: '*/*' }, token: { access_token: 'at_secret', kind: 'access' } }, 'seen');
    expect(lines[0]).toMatchObject({
      reqId: 'r1',
      token: { access_token: '[REDACTED]', kind: 'access' },
      headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', accept: '*/*' },
    });
    expect(JSON.stringify(lines[0])).not.toContain('at_secret');
    expect(JSON.stringify(lines[0])).not.toContain('session=s');
  });

  it('returns the very object when nothing in it is censored (no copy per log line or per request)', () => {
    const bindings = { reqId: 'r2', clientId: 'client_1', user: { id: 'u1' } };
    expect(censorFields(bindings)).toBe(bindings);
  });
});

describe('log URL redaction', () => {
  it('replaces the values of credential-bearing query parameters', () => {
    expect(redactUrl('/oauth/authorize?client_id=c1&code_challenge=abc&state=xyz&scope=profile')).toBe(
      '/oauth/authorize?client_id=c1&code_challenge=[REDACTED]&state=[REDACTED]&scope=profile',
    );
    expect(redactUrl('/x?access_token=t&refresh_token=r&client_secret=s&password=p&api_key=k&code=c')).toBe(
      '/x?access_token=[REDACTED]&refresh_token=[REDACTED]&client_secret=[REDACTED]&password=[REDACTED]&api_key=[REDACTED]&code=[REDACTED]',
    );
    expect(redactUrl('/x?ACCESS%5FTOKEN=t')).toBe('/x?ACCESS%5FTOKEN=[REDACTED]');
    expect(redactUrl('/plain/path')).toBe('/plain/path');
    expect(redactUrl('/x?%E0%A4%A=1')).toBe('/x?%E0%A4%A=[REDACTED]');
  });
});
