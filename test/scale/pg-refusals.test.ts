import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL } from '../helpers/databases.js';
import { form, registerClient, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type Seeded } from '../helpers/server.js';
import { until } from '../helpers/until.js';

type Instance = Awaited<ReturnType<typeof startInstance>>;

/**
 * PostgreSQL refusing new connections, for real: a role of its own over a database of its own (both `t_dur_…`,
 * dropped after), so the limits the test sets reach no other test. Every endpoint format answers 503 with
 * Retry-After, never 500 (SPEC §6).
 */
describe.skipIf(!PG_URL)('PostgreSQL refusing connections: 503 with Retry-After on every endpoint format', () => {
  const name = `t_dur_${randomBytes(5).toString('hex')}`;
  let admin: pg.Client;
  let serika: Instance;
  let owner: Seeded;
  let client: TestClient;

  beforeAll(async () => {
    admin = new pg.Client(PG_URL);
    await admin.connect();
    // Not a superuser: connection limits do not apply to superusers.
    await admin.query(`create role ${name} login`);
    await admin.query(`create database ${name} owner ${name}`);
    const url = new URL(PG_URL!);
    url.username = name;
    url.password = '';
    url.pathname = `/${name}`;
    url.search = '';
    serika = await startInstance(url.toString(), { RATE_LIMIT_TOKEN: '0' });
    owner = await seedUser(serika, 'refused_owner');
    client = await registerClient(serika, owner);
  });
  afterAll(async () => {
    await serika?.close();
    if (admin) {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`drop role if exists ${name}`);
      await admin.end();
    }
  });

  /**
   * Ends the role's open connections (the pool drops each as it hears), so every request needs a fresh one. Ended
   * again until the pool is empty: a connection a background job was opening as the limit changed gets past it.
   */
  async function dropPooledConnections(): Promise<void> {
    await until(
      async () => {
        await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [name]);
        return serika.services.storage.poolStats!().total === 0;
      },
      { intervalMs: 10, message: 'the pool to drop every terminated connection' },
    );
  }

  async function expectEveryFormatRefused(): Promise<void> {
    // OpenAI-style JSON (the API).
    const listed = await call('GET', `${serika.api}/oauth/clients`, { key: owner.key });
    expect([listed.status, listed.json?.error?.code, listed.headers.get('retry-after')], listed.text).toEqual([503, 'service_unavailable', '1']);
    // RFC 6749 §5.2 JSON (the token endpoint).
    const token = await call('POST', `${serika.api}/oauth/token`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ grant_type: 'refresh_token', refresh_token: 'serika_rt_unknown', client_id: client.clientId, client_secret: client.clientSecret! }),
    });
    expect([token.status, token.json?.error, token.headers.get('retry-after')], token.text).toEqual([503, 'temporarily_unavailable', '1']);
    // A page (the authorization endpoint, for a client it must look up).
    const query = new URLSearchParams({ response_type: 'code', client_id: `unknown_${name}`, redirect_uri: 'https://app.example.com/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    const page = await call('GET', `${serika.api}/oauth/authorize?${query}`);
    expect([page.status, page.headers.get('content-type')?.startsWith('text/html'), Boolean(page.headers.get('retry-after'))], page.text).toEqual([503, true, true]);
    expect(page.text).toContain('temporarily_unavailable');
    // MCP (its bearer guard looks the token up).
    const mcp = await call('POST', `${serika.url}/mcp`, {
      headers: { authorization: 'Bearer serika_at_unknown', accept: 'application/json, text/event-stream' },
      json: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    });
    expect([mcp.status, mcp.headers.get('retry-after')], mcp.text).toEqual([503, '1']);
  }

  async function expectServing(): Promise<void> {
    const listed = await call('GET', `${serika.api}/oauth/clients`, { key: owner.key });
    expect(listed.status, listed.text).toBe(200);
  }

  it('53300 too_many_connections (the role at its CONNECTION LIMIT)', async () => {
    await expectServing();
    await admin.query(`alter role ${name} connection limit 0`);
    try {
      await dropPooledConnections();
      await expectEveryFormatRefused();
    } finally {
      await admin.query(`alter role ${name} connection limit -1`);
    }
    await expectServing();
  });

  it('55000 object_not_in_prerequisite_state (the database not accepting connections: ALLOW_CONNECTIONS false)', async () => {
    await expectServing();
    await admin.query(`alter database ${name} allow_connections false`);
    try {
      await dropPooledConnections();
      await expectEveryFormatRefused();
    } finally {
      await admin.query(`alter database ${name} allow_connections true`);
    }
    await expectServing();
  });
});
