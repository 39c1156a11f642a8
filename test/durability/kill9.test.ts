import { afterAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/database.js';
import { sha256Hex } from '../../src/security/secrets.js';
import { runCli, spawnServer } from '../helpers/cli.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { call } from '../helpers/server.js';

const API = '/api/openai/v1/oauth/clients';

describe.each(DIALECTS)('nothing acknowledged is lost on kill -9 (%s)', (dialect) => {
  const cleanups: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of cleanups) await db.cleanup();
  });

  // Child processes (CLI runs, two servers) of a second or more each: on a loaded machine past 30 s.
  it.skipIf(!dialectAvailable(dialect))('finds every user, key and client after SIGKILL and restart', async () => {
    const database = await createTestDatabase(dialect);
    cleanups.push(database);
    const env = { DATABASE_URL: database.url, LOG_LEVEL: 'warn' };

    expect((await runCli(['users', 'create', '--username', 'durable', '--password-stdin'], env, 'durable password\n')).code).toBe(0);
    const key1 = (await runCli(['keys', 'create', '--username', 'durable'], env)).stdout.trim();

    const first = await spawnServer(env);
    // A key created by the CLI while the server runs on the same database.
    const key2 = (await runCli(['keys', 'create', '--username', 'durable', '--name', 'second'], env)).stdout.trim();
    expect(key2).toMatch(/^sk-serika-/);

    const made: Array<{ clientId: string; clientSecret: string | null; name: string }> = [];
    for (let i = 0; i < 6; i++) {
      const reply = await call('POST', first.url + API, {
        key: i % 2 ? key1 : key2,
        json: { name: `app ${i}`, redirectUris: [`https://app${i}.example.com/cb`], scopes: ['profile'], public: i === 5 },
      });
      expect(reply.status).toBe(201);
      made.push(reply.json);
    }
    const patched = await call('PATCH', `${first.url}${API}/${made[0]!.clientId}`, { key: key1, json: { name: 'renamed' } });
    expect(patched.status).toBe(200);
    const reset = await call('POST', `${first.url}${API}/${made[1]!.clientId}/reset-secret`, { key: key1 });
    expect(reset.status).toBe(200);
    const deleted = await call('DELETE', `${first.url}${API}/${made[2]!.clientId}`, { key: key1 });
    expect(deleted.status).toBe(204);

    // The last acknowledgement has arrived; now the process dies without any chance to flush.
    await first.stop('SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');

    const second = await spawnServer(env);
    try {
      for (const key of [key1, key2]) {
        const list = await call('GET', second.url + API, { key });
        expect(list.status).toBe(200);
        const ids = list.json.data.map((c: { clientId: string }) => c.clientId);
        expect(ids).toEqual(made.filter((_, i) => i !== 2).map((c) => c.clientId));
        expect(list.json.data[0].name).toBe('renamed');
        expect(list.json.data.find((c: { public: boolean }) => c.public).clientId).toBe(made[5]!.clientId);
      }
    } finally {
      await second.stop();
    }

    const storage = openStorage(database.url);
    try {
      const row = await storage.db.selectFrom('oauth_clients').select('secret_hash').where('id', '=', made[1]!.clientId).executeTakeFirstOrThrow();
      expect(row.secret_hash).toBe(sha256Hex(reset.json.clientSecret));
      const untouched = await storage.db.selectFrom('oauth_clients').select('secret_hash').where('id', '=', made[3]!.clientId).executeTakeFirstOrThrow();
      expect(untouched.secret_hash).toBe(sha256Hex(made[3]!.clientSecret!));
    } finally {
      await storage.close();
    }
  }, 90_000);
});
