import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyEncryption } from '../../src/security/key-encryption.js';
import { reencrypt } from '../../src/security/sealed-columns.js';
import { openStorage } from '../../src/storage/database.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { registerClient, userWithSession } from '../helpers/oauth.js';
import { captureLog, seedUser, startInstance, type TestServer } from '../helpers/server.js';
import { accessTokenFor } from '../helpers/tokens.js';

const A = 'secret-A-0123456789-0123456789-0123456789';
const B = 'secret-B-0123456789-0123456789-0123456789';

type Instance = Awaited<ReturnType<typeof startInstance>>;

/** A signed-in user's ID token, verified against the instance's JWKS over HTTP; returns the kid that signed it. */
async function idTokenKid(instance: Instance): Promise<string> {
  const ts = instance as unknown as TestServer;
  const owner = await seedUser(ts);
  const client = await registerClient(ts, owner);
  const { agent } = await userWithSession(ts);
  const tokens = (await accessTokenFor(ts, agent, client, 'openid profile')) as unknown as { id_token: string };
  const jwks = createRemoteJWKSet(new URL(`${instance.url}/.well-known/jwks.json`));
  await jwtVerify(tokens.id_token, jwks, { issuer: instance.config.publicUrl, audience: client.clientId });
  return decodeProtectedHeader(tokens.id_token).kid!;
}

async function storedKeys(url: string): Promise<{ privateJwks: string[]; serverSecrets: string[] }> {
  const storage = openStorage(url);
  try {
    const privateJwks = (await storage.db.selectFrom('signing_keys').select('private_jwk').execute()).map((r) => r.private_jwk);
    const serverSecrets = (await storage.db.selectFrom('server_secrets').select('value').execute()).map((r) => r.value);
    return { privateJwks, serverSecrets };
  } finally {
    await storage.close();
  }
}

const fingerprint = (secret: string) => new KeyEncryption([secret]).sealingFingerprint!;

describe.each(DIALECTS)('keys at rest under KEY_ENCRYPTION_SECRETS (%s)', (dialect) => {
  describe.skipIf(!dialectAvailable(dialect))('sealing, rotation and re-encryption', () => {
    let database: TestDatabase;
    let kid: string;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => database?.cleanup());

    it('stores the private signing keys and the cookie and CSRF keys sealed under the secret; ID tokens verify via the JWKS', async () => {
      const instance = await startInstance(database.url, { KEY_ENCRYPTION_SECRETS: A });
      try {
        kid = await idTokenKid(instance);
      } finally {
        await instance.close();
      }
      const { privateJwks, serverSecrets } = await storedKeys(database.url);
      expect(privateJwks).toHaveLength(3);
      expect(serverSecrets).toHaveLength(2);
      for (const value of [...privateJwks, ...serverSecrets]) {
        expect(value.startsWith(`serika-sealed:1:${fingerprint(A)}:`), value.slice(0, 40)).toBe(true);
        expect(value).not.toContain('"d"');
        // Quoted: the sealed body is random base64url, where the bare letters turn up by chance (about 1 run in 100).
        expect(value).not.toContain('"kty"');
        expect(value).not.toContain(Buffer.from('{"kty"').toString('base64url').slice(0, 8));
      }
    });

    it('after rotation to "B,A" still signs with the key sealed under A, and warns that values are not under B', async () => {
      const { lines, logStream } = captureLog();
      const instance = await startInstance(database.url, { KEY_ENCRYPTION_SECRETS: `${B},${A}`, LOG_LEVEL: 'warn' }, { logStream });
      try {
        expect(await idTokenKid(instance)).toBe(kid);
      } finally {
        await instance.close();
      }
      const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.msg.includes('KEY_ENCRYPTION_SECRETS'));
      expect(warnings.map((w) => w.msg)).toEqual([
        '3 private signing keys (signing_keys.private_jwk) are not sealed under the first KEY_ENCRYPTION_SECRETS secret: run npx serika secrets reencrypt',
        '2 cookie and CSRF keys (server_secrets.value) are not sealed under the first KEY_ENCRYPTION_SECRETS secret: run npx serika secrets reencrypt',
      ]);
    });

    it('reencrypt moves every value to B; with only B set the keys still open and sign', async () => {
      const storage = openStorage(database.url);
      try {
        const results = await reencrypt(storage.db, new KeyEncryption([B, A]));
        expect(results.map((r) => [r.column.table, r.resealed, r.sealed, r.unchanged, r.changedMeanwhile])).toEqual([
          ['signing_keys', 3, 0, 0, 0],
          ['server_secrets', 2, 0, 0, 0],
          ['totp_factors', 0, 0, 0, 0],
          // Webhook secrets (SPEC §13): none here; clients without one hold null, which is not a sealed value.
          ['oauth_clients', 0, 0, 0, 0],
        ]);
        const again = await reencrypt(storage.db, new KeyEncryption([B, A]));
        expect(again.map((r) => r.unchanged)).toEqual([3, 2, 0, 0]);
      } finally {
        await storage.close();
      }
      const { privateJwks, serverSecrets } = await storedKeys(database.url);
      for (const value of [...privateJwks, ...serverSecrets]) expect(value.startsWith(`serika-sealed:1:${fingerprint(B)}:`)).toBe(true);

      const { lines, logStream } = captureLog();
      const instance = await startInstance(database.url, { KEY_ENCRYPTION_SECRETS: B, LOG_LEVEL: 'warn' }, { logStream });
      try {
        // Signing in proves the cookie and CSRF keys opened; the ID token, the signing key.
        expect(await idTokenKid(instance)).toBe(kid);
      } finally {
        await instance.close();
      }
      expect(lines.join('')).not.toContain('KEY_ENCRYPTION_SECRETS');
      // The positive anchor: the same log sees the warning at a start whose first secret the values are not under.
      await (await startInstance(database.url, { KEY_ENCRYPTION_SECRETS: `${A},${B}`, LOG_LEVEL: 'warn' }, { logStream })).close();
      expect(lines.join('')).toContain('are not sealed under the first KEY_ENCRYPTION_SECRETS secret');
    });

    it('refuses to start, naming KEY_ENCRYPTION_SECRETS, without the secret that sealed the keys', async () => {
      await expect(startInstance(database.url)).rejects.toThrow(/^the private signing key \S+ is sealed under a KEY_ENCRYPTION_SECRETS secret \(fingerprint [\w-]+\), but KEY_ENCRYPTION_SECRETS is not set$/);
      await expect(startInstance(database.url, { KEY_ENCRYPTION_SECRETS: A })).rejects.toThrow(/is sealed under a secret that is not in KEY_ENCRYPTION_SECRETS/);
    });

    it('does not open a sealed key copied into another row', async () => {
      const storage = openStorage(database.url);
      try {
        const rows = await storage.db.selectFrom('signing_keys').select(['kid', 'private_jwk']).orderBy('kid').execute();
        await storage.db.updateTable('signing_keys').set({ private_jwk: rows[0]!.private_jwk }).where('kid', '=', rows[1]!.kid).execute();
      } finally {
        await storage.close();
      }
      await expect(startInstance(database.url, { KEY_ENCRYPTION_SECRETS: B })).rejects.toThrow(/does not open .*copied from another row/);
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('without KEY_ENCRYPTION_SECRETS', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => database?.cleanup());

    it('stores the keys plain, warns once at an https start, and reencrypt later seals them', async () => {
      const { lines, logStream } = captureLog();
      const instance = await startInstance(database.url, { PUBLIC_URL: 'https://auth.example.com', LOG_LEVEL: 'warn' }, { logStream });
      await instance.close();
      const warnings = lines.filter((l) => l.includes('KEY_ENCRYPTION_SECRETS'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, msg: expect.stringMatching(/^KEY_ENCRYPTION_SECRETS is not set: private signing keys/) });
      expect((await storedKeys(database.url)).privateJwks.every((v) => v.includes('"d"'))).toBe(true);

      const storage = openStorage(database.url);
      try {
        const results = await reencrypt(storage.db, new KeyEncryption([A]));
        expect(results.map((r) => [r.sealed, r.resealed])).toEqual([
          [3, 0],
          [2, 0],
          [0, 0],
          [0, 0],
        ]);
      } finally {
        await storage.close();
      }
      const after = await storedKeys(database.url);
      for (const value of [...after.privateJwks, ...after.serverSecrets]) expect(value.startsWith(`serika-sealed:1:${fingerprint(A)}:`)).toBe(true);
      const sealed = await startInstance(database.url, { KEY_ENCRYPTION_SECRETS: A });
      try {
        await idTokenKid(sealed);
      } finally {
        await sealed.close();
      }
    });

    it('does not warn at an http start', async () => {
      const fresh = await createTestDatabase(dialect);
      const { lines, logStream } = captureLog();
      try {
        await (await startInstance(fresh.url, { LOG_LEVEL: 'warn' }, { logStream })).close();
        expect(lines.join('')).not.toContain('KEY_ENCRYPTION_SECRETS');
        // The positive anchor: the same log, the same database, started at https, does warn.
        await (await startInstance(fresh.url, { PUBLIC_URL: 'https://auth.example.com', LOG_LEVEL: 'warn' }, { logStream })).close();
        expect(lines.join('')).toContain('KEY_ENCRYPTION_SECRETS is not set');
      } finally {
        await fresh.cleanup();
      }
    });
  });
});
