import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mint } from '../../src/oauth/store/credentials.js';
import { PG_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { form, registerClient, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type Seeded } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { sleep, until } from '../helpers/until.js';

type Instance = Awaited<ReturnType<typeof startInstance>>;

describe.skipIf(!PG_URL)('PostgreSQL going away under load (through a TCP proxy the test controls)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let serika: Instance;
  let owner: Seeded;
  let client: TestClient;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const target = new URL(PG_URL!);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    serika = await startInstance(viaProxy.toString(), { RATE_LIMIT_TOKEN: '0', MAX_CLIENTS_PER_USER: '100000' });
    owner = await seedUser(serika, 'outage_owner');
    client = await registerClient(serika, owner);
  });
  afterAll(async () => {
    await serika?.close();
    await proxy?.close();
    await database?.cleanup();
  });

  it('answers 503 while the database is gone, recovers on its own, and loses no acknowledged write', async () => {
    // Refresh tokens written straight into the database, each to be used once.
    const now = Date.now();
    const refreshTokens: string[] = [];
    const rows = [];
    for (let i = 0; i < 600; i++) {
      const t = mint('refresh');
      refreshTokens.push(t.value);
      rows.push({ token_hash: t.hash, kind: 'refresh' as const, client_id: client.clientId, user_id: owner.userId, scopes: 'profile', family_id: `fam_outage_${i}`, code_hash: null, created_at: now, expires_at: now + 3_600_000, revoked_at: null, consumed_at: null });
    }
    for (let i = 0; i < rows.length; i += 200) await serika.services.storage.db.insertInto('oauth_tokens').values(rows.slice(i, i + 200)).execute();

    const statuses = new Map<number, number>();
    const acknowledged: string[] = [];
    const createdClients: string[] = [];
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (!stop && next < refreshTokens.length) {
        const token = refreshTokens[next++]!;
        const response = await fetch(`${serika.api}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form({ grant_type: 'refresh_token', refresh_token: token, client_id: client.clientId, client_secret: client.clientSecret! }),
        });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const body = (await response.json()) as { access_token?: string; error?: string };
        if (response.status === 200) acknowledged.push(body.access_token!);
        else if (response.status === 503) expect(body.error).toBe('temporarily_unavailable');
        const created = await call('POST', `${serika.api}/oauth/clients`, { key: owner.key, json: { name: `during ${next}`, redirectUris: ['https://a.example.com/cb'], scopes: ['profile'] } });
        statuses.set(created.status, (statuses.get(created.status) ?? 0) + 1);
        if (created.status === 201) createdClients.push(created.json.clientId);
        else expect(created.json.error.code).toBe('service_unavailable');
        await sleep(5); // pacing the load, not waiting for anything
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));

    await until(() => acknowledged.length >= 8, { timeoutMs: 15_000, message: 'the load to have refreshed tokens before the cut' });
    proxy.cut();
    await until(async () => (await call('GET', `${serika.url}/readyz`)).status === 503, { timeoutMs: 10_000, message: '/readyz to answer 503 once the database is cut off' });
    const during = await call('GET', `${serika.api}/oauth/clients`, { key: owner.key });
    expect(during.status).toBe(503);
    expect(during.json.error.code).toBe('service_unavailable');
    expect(during.headers.get('retry-after')).toBe('1');
    // The outage lasts until the load has met it (a 503 counted), so the checks below cover writes made around it.
    await until(() => (statuses.get(503) ?? 0) > 0, { timeoutMs: 15_000, message: 'the load to get a 503 during the outage' });
    proxy.resume();

    // Recovery within seconds, without a restart, and the load succeeding again.
    await until(async () => (await call('GET', `${serika.url}/readyz`)).status === 200, { timeoutMs: 10_000, intervalMs: 100, message: '/readyz to answer 200 after the database is back' });
    const atRecovery = acknowledged.length;
    await until(() => acknowledged.length > atRecovery, { timeoutMs: 10_000, message: 'a refresh acknowledged after recovery' });
    stop = true;
    await load;

    // No 5xx but 503, and 503s happened (the outage was real).
    for (const status of statuses.keys()) expect(status === 503 || status < 500, `status ${status}`).toBe(true);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(0);

    // Every acknowledged token and client is there and valid.
    for (const token of acknowledged) {
      const me = await call('GET', `${serika.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
    }
    const ids = new Set<string>();
    for (let after = ''; ; ) {
      const page = await call('GET', `${serika.api}/oauth/clients?limit=100${after ? `&after=${after}` : ''}`, { key: owner.key });
      for (const c of page.json.data as Array<{ clientId: string }>) ids.add(c.clientId);
      if (!page.json.has_more) break;
      after = page.json.last_id;
    }
    for (const id of createdClients) expect(ids.has(id)).toBe(true);
  });
});
