import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer } from '../helpers/cli.js';
import { call } from '../helpers/server.js';

const API = '/api/openai/v1/oauth/clients';

describe("the server's log", () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-logs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('never contains a secret or key it handed out or was sent, after a full run at the most verbose level', async () => {
    const env = { DATABASE_URL: `sqlite:${join(dir, 'logs.db')}`, LOG_LEVEL: 'trace', METRICS_TOKEN: 'metrics-token-do-not-log' };
    const password = 'password-that-must-not-appear';
    expect((await runCli(['users', 'create', '--username', 'logger', '--password-stdin'], env, `${password}\n`)).code).toBe(0);
    const key = (await runCli(['keys', 'create', '--username', 'logger'], env)).stdout.trim();

    const server = await spawnServer(env);
    const handedOut: string[] = [key, password, 'metrics-token-do-not-log'];
    try {
      const confidential = await call('POST', server.url + API, {
        key,
        json: { name: 'Logged', redirectUris: ['https://a.example.com/cb'], scopes: ['profile'] },
      });
      handedOut.push(confidential.json.clientSecret);
      await call('POST', server.url + API, {
        key,
        json: { name: 'Public', redirectUris: ['http://127.0.0.1/cb'], scopes: ['profile'], public: true },
      });
      for (let i = 0; i < 3; i++) {
        const reset = await call('POST', `${server.url}${API}/${confidential.json.clientId}/reset-secret`, { key });
        handedOut.push(reset.json.clientSecret);
      }
      await call('GET', server.url + API, { key });
      await call('GET', `${server.url}${API}/${confidential.json.clientId}`, { key });

      // Credentials sent in places a careless logger would print.
      const bogusKey = 'sk-serika-bogusbogusbogusbogusbogusbogusbogusbog';
      handedOut.push(bogusKey);
      await call('GET', server.url + API, { key: bogusKey });
      await call('GET', server.url + API, { headers: { authorization: `Basic ${Buffer.from('u:' + bogusKey).toString('base64')}` } });
      const queryToken = 'querytoken-should-be-redacted-123456';
      const querySecret = 'querysecret-should-be-redacted-654321';
      const queryCode = 'querycode-should-be-redacted-777';
      handedOut.push(queryToken, querySecret, queryCode);
      await call('GET', `${server.url}${API}?access_token=${queryToken}&client_secret=${querySecret}&code=${queryCode}`, { key });
      await call('GET', `${server.url}/nowhere?refresh_token=${queryToken}&password=${querySecret}`);
      await call('POST', server.url + API, { key, body: `{"name":"${querySecret}",`, headers: { 'content-type': 'application/json' } });
      await call('POST', server.url + API, { key, body: `client_secret=${querySecret}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await call('GET', `${server.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-do-not-log' } });
      await call('GET', `${server.url}/metrics`, { headers: { cookie: `session=${queryToken}` } });
      // A nested authorize URL in return_to: its state and code_challenge are redacted too.
      const nestedState = 'nestedstate-should-be-redacted-4242';
      const nestedChallenge = 'nestedchallenge-should-be-redacted-4343';
      handedOut.push(nestedState, nestedChallenge);
      const nested = `/api/openai/v1/oauth/authorize?client_id=c&state=${nestedState}&code_challenge=${nestedChallenge}`;
      await call('GET', `${server.url}/login?return_to=${encodeURIComponent(nested)}`);
    } finally {
      await server.stop('SIGTERM');
    }

    const log = server.output();
    const lines = log.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(20);
    for (const secret of handedOut) expect(log, `log contains ${secret.slice(0, 12)}…`).not.toContain(secret);
    expect(log).toContain('[REDACTED]');

    // Every line but the announcement is JSON; every request line carries its request id.
    const json = lines.filter((l) => !l.startsWith('Serika listening on ')).map((l) => JSON.parse(l));
    const requestLines = json.filter((l) => l.req || l.res);
    expect(requestLines.length).toBeGreaterThan(10);
    for (const line of requestLines) expect(line.reqId).toEqual(expect.any(String));
  });
});
