import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLog, startTestServer, type TestServer } from '../helpers/server.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes bytes to the server as they are (no client library would send them) and reads the answer until the connection closes. */
function send(url: string, text: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = raw.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, body: raw.slice(split + 4) });
    });
  });
}

const HUGE = 'a'.repeat(20_000);

/** SPEC §6: a request in absolute form, a head over the size limit, and every other framework-level refusal get their endpoint's error format and an X-Request-Id. */
describe('requests refused or reshaped before routing keep their endpoint format', () => {
  let ts: TestServer;
  const log = captureLog();
  let host: string;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { LOG_LEVEL: 'info' }, { logStream: log.logStream });
    host = new URL(ts.url).host;
  });
  afterAll(async () => ts?.close());

  const expectOpenAI = (answer: RawAnswer, status: number) => {
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(JSON.parse(answer.body).error).sort()).toEqual(['code', 'message', 'param', 'type']);
  };
  const expectOAuth = (answer: RawAnswer, status: number, error: string) => {
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(answer.body)).toMatchObject({ error, error_description: expect.any(String) });
  };
  const expectPage = (answer: RawAnswer, status: number) => {
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^text\/html/);
    expect(answer.body).toContain('<!doctype html>');
    expect(answer.headers['x-frame-options']).toBe('DENY');
  };
  const requestId = (answer: RawAnswer) => {
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    return answer.headers['x-request-id']!;
  };

  it('a request in absolute form is served as its path: each endpoint answers in its own format', async () => {
    const api = await send(ts.url, `GET http://${host}/api/openai/v1/models HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expectOpenAI(api, 401);
    requestId(api);
    const body = 'grant_type=nope';
    const token = await send(
      ts.url,
      `POST http://${host}/api/openai/v1/oauth/token HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expectOAuth(token, 401, 'invalid_client');
    requestId(token);
    const authorize = await send(ts.url, `GET http://${host}/api/openai/v1/oauth/authorize HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expectPage(authorize, 400);
    expect(authorize.body).toContain('client_id is missing');
    requestId(authorize);
  });

  it('a head over the size limit → 431 in the format of the endpoint it named, with an X-Request-Id that the log holds', async () => {
    const head = (path: string) => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Padding: ${HUGE}\r\nConnection: close\r\n\r\n`;
    const api = await send(ts.url, head('/api/openai/v1/models'));
    expectOpenAI(api, 431);
    expect(api.headers['access-control-allow-origin']).toBe('*');
    const token = await send(ts.url, head('/api/openai/v1/oauth/token'));
    expectOAuth(token, 431, 'invalid_request');
    expect(token.headers['cache-control']).toBe('no-store');
    const page = await send(ts.url, head('/login'));
    expectPage(page, 431);
    const absolute = await send(ts.url, head(`http://${host}/api/openai/v1/oauth/token`));
    expectOAuth(absolute, 431, 'invalid_request');
    for (const answer of [api, token, page, absolute]) expect(log.lines.join('')).toContain(requestId(answer));
  });

  it('a request line that is not HTTP → 400 in the endpoint format, with an X-Request-Id', async () => {
    const answer = await send(ts.url, `GET /api/openai/v1/mo dels HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expectOpenAI(answer, 400);
    requestId(answer);
  });
});
