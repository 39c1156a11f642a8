import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { createServices, type Services } from '../../src/services.js';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import type { TokenSubject } from '../../src/oauth/store/token-pair.js';
import { randomSecret, sha256Hex } from '../../src/security/secrets.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { tokenState } from '../../src/oauth/store/token-state.js';
import { pruneOnce } from '../../src/pruner.js';
import { IdTokens } from '../../src/oidc/id-token.js';
import { SigningKeys } from '../../src/oidc/signing-keys.js';
import { KeyEncryption } from '../../src/security/key-encryption.js';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { sql } from 'kysely';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

const PASSWORD = 'correct horse battery staple';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/**
 * The domain stores on every dialect, with an injected clock: the OAuth
 * store, grants, sessions, the login throttle, usage and characters (the
 * users, keys and clients are in storage.test.ts).
 */
describe.each(DIALECTS)('domain stores (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let s: Services;
  let clock = 1_800_000_000_000;
  const now = () => clock;
  let userId: string;
  let clientId: string;
  let n = 0;

  const newUser = async () => (await s.users.create({ username: `${dialect}_u${++n}`, password: PASSWORD })).id;
  const newClient = async (owner: string, scopes = ['profile', 'generations', 'characters']) =>
    (await s.clients.create(owner, { name: 'App', redirectUris: ['https://a.example/cb'], scopes })).clientId;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    s = createServices(parseConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' }), storage, now);
    userId = await newUser();
    clientId = await newClient(userId);
  });
  afterAll(async () => {
    await s?.upstream.close();
    await storage?.close();
    await database?.cleanup();
  });

  /** A redemption the test judges itself: the code's tokens for the subject given, or null when it was used already. */
  const redeem = async (code: string, subject: TokenSubject) => {
    const redemption = await s.oauth.issuance.redeemCode(code, () => ({ subject }));
    return 'issued' in redemption ? redemption.issued : null;
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    describe('OAuth store', () => {
      it('takes a pending consent request once, and never after ten minutes or for another user', async () => {
        const pending = { user_id: userId, client_id: clientId, redirect_uri: 'https://a.example/cb', scopes: 'profile', state: 's', code_challenge: CHALLENGE };
        const id = await s.oauth.pending.create(pending);
        expect(await s.oauth.pending.take(id, 'user_someone_else')).toBeUndefined();
        expect(await s.oauth.pending.take(id, userId)).toMatchObject(pending);
        expect(await s.oauth.pending.take(id, userId)).toBeUndefined();
        const stale = await s.oauth.pending.create(pending);
        clock += 10 * 60 * 1000 + 1;
        expect(await s.oauth.pending.take(stale, userId)).toBeUndefined();
      });

      it('redeems a code exactly once, even when redemptions race, and revokes by code', async () => {
        const code = await s.oauth.codes.create({ clientId, userId, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        const row = await s.oauth.codes.find(code);
        expect(row).toMatchObject({ client_id: clientId, user_id: userId, scopes: 'profile', consumed_at: null, expires_at: clock + 60_000 });
        const results = await Promise.all(Array.from({ length: 5 }, () => redeem(code, { clientId, userId, scopes: ['profile'] })));
        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        expect(await s.oauth.tokens.findLiveAccess(winners[0]!.access_token)).toMatchObject({ clientId, userId, scopes: 'profile' });
        expect(await s.oauth.revocation.byCode(row!.code_hash)).toBe(2);
        expect(await s.oauth.tokens.findLiveAccess(winners[0]!.access_token)).toBeUndefined();
      });

      it('writes a redemption or a rotation whole or not at all: a pair that cannot be inserted leaves its code or refresh token unused', async () => {
        // PostgreSQL consumes and inserts in one statement with no transaction around it; SQLite in a transaction.
        const familySize = async (familyId: string) =>
          Number((await storage.db.selectFrom('oauth_tokens').select((eb) => eb.fn.countAll().as('n')).where('family_id', '=', familyId).executeTakeFirstOrThrow()).n);
        const code = await s.oauth.codes.create({ clientId, userId, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        // A client that does not exist: the tokens' foreign key refuses the pair.
        await expect(redeem(code, { clientId: 'client_gone', userId, scopes: ['profile'] })).rejects.toThrow(/foreign key/i);
        expect((await s.oauth.codes.find(code))!.consumed_at).toBeNull();
        const issued = (await redeem(code, { clientId, userId, scopes: ['profile'] }))!;
        expect((await s.oauth.codes.find(code))!.consumed_at).toBe(clock);
        const old = (await s.oauth.tokens.find(issued.refresh_token!))!;
        expect(await familySize(old.family_id)).toBe(2);

        await expect(s.oauth.issuance.rotateRefresh(old, { clientId: 'client_gone', userId, scopes: ['profile'] })).rejects.toThrow(/foreign key/i);
        expect(tokenState((await s.oauth.tokens.find(issued.refresh_token!))!, clock)).toBe('live');
        expect(await familySize(old.family_id)).toBe(2);
        // A revoked refresh token is not rotated, and nothing is written in its place.
        await s.oauth.revocation.token(old.token_hash);
        expect(await s.oauth.issuance.rotateRefresh(old, { clientId, userId, scopes: ['profile'] })).toBeNull();
        expect(await familySize(old.family_id)).toBe(2);
      });

      it('rotates a refresh token once, keeps the family, and a family revocation ends it all', async () => {
        const code = await s.oauth.codes.create({ clientId, userId, scopes: ['profile', 'characters'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        const first = (await redeem(code, { clientId, userId, scopes: ['profile', 'characters'] }))!;
        const old = (await s.oauth.tokens.find(first.refresh_token!))!;
        const [a, b] = await Promise.all([
          s.oauth.issuance.rotateRefresh(old, { clientId, userId, scopes: ['profile', 'characters'], accessScopes: ['profile'] }),
          s.oauth.issuance.rotateRefresh(old, { clientId, userId, scopes: ['profile', 'characters'] }),
        ]);
        const next = (a ?? b)!;
        expect([a, b].filter(Boolean)).toHaveLength(1);
        expect(tokenState((await s.oauth.tokens.find(first.refresh_token!))!, clock)).toBe('consumed');
        const successor = (await s.oauth.tokens.find(next.refresh_token!))!;
        expect(successor.family_id).toBe(old.family_id);
        expect(successor.scopes).toBe('profile characters');
        expect(await s.oauth.revocation.family(old.family_id, 'revocation')).toBeGreaterThanOrEqual(3);
        expect(tokenState((await s.oauth.tokens.find(next.refresh_token!))!, clock)).toBe('revoked');
        expect(await s.oauth.tokens.findLiveAccess(next.access_token)).toBeUndefined();
      });

      it('still takes codes and tokens made before their keys began with the issue time (stored under the plain SHA-256)', async () => {
        // Made as they were before: prefix and 256 random bits, the row keyed by the SHA-256 alone.
        const oldStyle = (prefix: string) => randomSecret(prefix);
        const code = oldStyle('serika_ac_');
        const made = await s.oauth.codes.create({ clientId, userId, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        await storage.db.updateTable('oauth_codes').set({ code_hash: sha256Hex(code) }).where('code_hash', '=', credentialKey(made)).execute();
        const row = (await s.oauth.codes.find(code))!;
        expect(row.code_hash).toBe(sha256Hex(code));
        const issued = (await redeem(code, { clientId, userId, scopes: ['profile'] }))!;
        const [access, refresh] = [oldStyle('serika_at_'), oldStyle('serika_rt_')];
        await storage.db.updateTable('oauth_tokens').set({ token_hash: sha256Hex(access) }).where('token_hash', '=', credentialKey(issued.access_token)).execute();
        await storage.db.updateTable('oauth_tokens').set({ token_hash: sha256Hex(refresh) }).where('token_hash', '=', credentialKey(issued.refresh_token!)).execute();
        expect(await s.oauth.tokens.findLiveAccess(access)).toMatchObject({ clientId, userId, scopes: 'profile' });
        const old = (await s.oauth.tokens.find(refresh))!;
        expect(old.kind).toBe('refresh');
        const next = (await s.oauth.issuance.rotateRefresh(old, { clientId, userId, scopes: ['profile'] }))!;
        expect(next.refresh_token).toMatch(/^serika_rt_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
        expect(tokenState((await s.oauth.tokens.find(refresh))!, clock)).toBe('consumed');
        await s.oauth.revocation.token(sha256Hex(access));
        expect(await s.oauth.tokens.findLiveAccess(access)).toBeUndefined();
      });

      it('decides liveness in one place: expired, revoked and consumed tokens are not live', async () => {
        const code = await s.oauth.codes.create({ clientId, userId, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        const issued = (await redeem(code, { clientId, userId, scopes: ['profile'] }))!;
        expect(await s.oauth.tokens.findLiveOf(issued.access_token, clientId)).toBeDefined();
        expect(await s.oauth.tokens.findLiveOf(issued.access_token, 'client_other')).toBeUndefined();
        clock += 3600 * 1000;
        expect(await s.oauth.tokens.findLiveAccess(issued.access_token)).toBeUndefined();
        expect(await s.oauth.tokens.findLiveOf(issued.refresh_token!, clientId)).toBeDefined();
        await s.oauth.revocation.token(credentialKey(issued.refresh_token!));
        expect(await s.oauth.tokens.findLiveOf(issued.refresh_token!, clientId)).toBeUndefined();
        expect(await s.oauth.tokens.lastIssued(userId, clientId)).toBeGreaterThan(0);
      });
    });

    describe('grants', () => {
      it('merges what was allowed, covers subsets, lists with the client name, counts per client', async () => {
        const user = await newUser();
        const client = await newClient(userId);
        await s.grants.allow(user, client, ['profile']);
        await s.grants.allow(user, client, ['characters', 'profile']);
        expect((await s.grants.find(user, client))!.scopes).toEqual(['profile', 'characters']);
        expect(await s.grants.covers(user, client, ['characters'])).toBe(true);
        expect(await s.grants.covers(user, client, ['generations'])).toBe(false);
        expect(await s.grants.listForUser(user)).toEqual([expect.objectContaining({ clientId: client, clientName: 'App' })]);
        expect(await s.grants.countForClient(client)).toBe(1);
      });

      it('"Revoke access" ends the grant and, in the same transaction through oauth/, every token and code', async () => {
        const user = await newUser();
        const client = await newClient(userId);
        await s.grants.allow(user, client, ['profile']);
        const code = await s.oauth.codes.create({ clientId: client, userId: user, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        const issued = (await redeem(code, { clientId: client, userId: user, scopes: ['profile'] }))!;
        const unused = await s.oauth.codes.create({ clientId: client, userId: user, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        expect(await s.grants.revokeAccess(user, client)).toBe(true);
        expect(await s.grants.find(user, client)).toBeUndefined();
        expect(await s.oauth.tokens.findLiveAccess(issued.access_token)).toBeUndefined();
        expect(await s.oauth.tokens.findLiveOf(issued.refresh_token!, client)).toBeUndefined();
        expect(await s.oauth.codes.find(unused)).toBeUndefined();
        expect(await s.grants.revokeAccess(user, client)).toBe(false);
      });

      it('removing a scope from a client ends the grants, codes and tokens holding it, and only those', async () => {
        const user = await newUser();
        const client = await newClient(userId);
        await s.grants.allow(user, client, ['characters']);
        const other = await newUser();
        await s.grants.allow(other, client, ['profile']);
        const holding = (await redeem(await s.oauth.codes.create({ clientId: client, userId: user, scopes: ['characters'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE }), { clientId: client, userId: user, scopes: ['characters'] }))!;
        const keeping = (await redeem(await s.oauth.codes.create({ clientId: client, userId: other, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE }), { clientId: client, userId: other, scopes: ['profile'] }))!;
        await s.clients.update(userId, client, { scopes: ['profile', 'generations'] });
        expect(await s.grants.find(user, client)).toBeUndefined();
        expect(await s.grants.find(other, client)).toBeDefined();
        expect(await s.oauth.tokens.findLiveAccess(holding.access_token)).toBeUndefined();
        expect(await s.oauth.tokens.findLiveAccess(keeping.access_token)).toBeDefined();
      });
    });

    describe('sessions', () => {
      it('start, find, expire after a week, end one or all; a new sign-in ends the previous session', async () => {
        const user = await newUser();
        const first = await s.sessions.start(user);
        expect(await s.sessions.find(first.id)).toMatchObject({ userId: user });
        const second = await s.sessions.start(user, first.id);
        expect(await s.sessions.find(first.id)).toBeUndefined();
        const third = await s.sessions.start(user);
        await s.sessions.end(third.id);
        expect(await s.sessions.find(third.id)).toBeUndefined();
        const fourth = await s.sessions.start(user);
        await s.sessions.endAllForUser(user);
        expect(await s.sessions.find(fourth.id)).toBeUndefined();
        expect(await s.sessions.find(second.id)).toBeUndefined();
        const fifth = await s.sessions.start(user);
        clock += 7 * 24 * 3600 * 1000 + 1;
        expect(await s.sessions.find(fifth.id)).toBeUndefined();
      });
    });

    describe('login throttle', () => {
      it('slows more and more after three failures, per username regardless of case, forgets after a quiet quarter hour', async () => {
        const name = `Throttled_${dialect}`;
        const delays: number[] = [];
        for (let i = 0; i < 6; i++) {
          delays.push(await s.throttle.delayFor(name));
          await s.throttle.recordFailure(i % 2 ? name.toLowerCase() : name);
        }
        expect(delays).toEqual([0, 0, 0, 250, 500, 1000]);
        clock += 15 * 60 * 1000 + 1;
        expect(await s.throttle.delayFor(name)).toBe(0);
        await s.throttle.recordFailure(name);
        expect(await s.throttle.delayFor(name)).toBe(0);
        await s.throttle.clear(name);
        expect(await s.throttle.delayFor(name)).toBe(0);
      });
    });

    describe('usage', () => {
      it('records every call with what it was charged, and sums the calls that succeeded or were charged, per app and per day over 30 days', async () => {
        const user = await newUser();
        const principal = { userId: user, clientId, apiKeyId: null };
        const entry = { principal, clientName: 'App', endpoint: 'chat.completions' as const, model: 'm', promptTokens: 10, completionTokens: 5, images: 0, status: 200, latencyMs: 12 };
        await s.usage.record(entry);
        // A failed call, charged nothing (the meter records it so), is not summed.
        await s.usage.record({ ...entry, status: 502, promptTokens: 0, completionTokens: 0 });
        // A stream the app left, charged (SPEC §10), is.
        await s.usage.record({ ...entry, status: 499, promptTokens: 4, completionTokens: 6 });
        await s.usage.record({ ...entry, principal: { userId: user, clientId: null, apiKeyId: 'key_1' }, clientName: null, promptTokens: 1, completionTokens: 1 });
        clock -= 40 * 86_400_000; // an old row, outside the window
        await s.usage.record(entry);
        clock += 40 * 86_400_000;
        const totals = await s.usage.totalsByApp(user);
        expect(totals.get(clientId)).toMatchObject({ promptTokens: 14, completionTokens: 11, requests: 2 });
        expect(totals.get('')).toMatchObject({ promptTokens: 1, completionTokens: 1, requests: 1 });
        const days = await s.usage.lastThirtyDays(user);
        expect(days.reduce((sum, d) => sum + d.requests, 0)).toBe(3);
      });
    });

    describe('pruning', () => {
      it('deletes expired pending requests, codes, tokens, sessions and forgiven failures, and keeps usage and live rows', async () => {
        const user = await newUser();
        const client = await newClient(user);
        const pending = await s.oauth.pending.create({ user_id: user, client_id: client, redirect_uri: 'https://a.example/cb', scopes: 'profile', state: null, code_challenge: CHALLENGE });
        const code = await s.oauth.codes.create({ clientId: client, userId: user, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE });
        const issued = (await redeem(code, { clientId: client, userId: user, scopes: ['profile'] }))!;
        const session = await s.sessions.start(user);
        await s.throttle.recordFailure(`pruned_${dialect}`);
        await s.usage.record({ principal: { userId: user, clientId: client, apiKeyId: null }, clientName: 'App', endpoint: 'chat.completions', model: 'm', promptTokens: 1, completionTokens: 1, images: 0, status: 200, latencyMs: 1 });

        // An hour on: the pending request is gone; the access token expired less than a day ago stays.
        clock += 3600 * 1000 + 1;
        const early = (await pruneOnce(s))!;
        expect(early.pendingRequests).toBeGreaterThanOrEqual(1);
        expect(await s.oauth.pending.take(pending, user)).toBeUndefined();
        expect(await s.oauth.tokens.find(issued.access_token)).toBeDefined();
        expect(early.loginFailures).toBeGreaterThanOrEqual(1);

        // Past the refresh lifetime and a day: everything of that flow goes, usage stays.
        clock += 30 * 86_400_000 + 86_400_000;
        const late = (await pruneOnce(s))!;
        expect(late.tokens).toBeGreaterThanOrEqual(2);
        expect(late.codes).toBeGreaterThanOrEqual(1);
        expect(late.sessions).toBeGreaterThanOrEqual(1);
        expect(await s.oauth.tokens.find(issued.refresh_token!)).toBeUndefined();
        expect(await s.oauth.codes.find(code)).toBeUndefined();
        expect(await s.sessions.find(session.id)).toBeUndefined();
        const usage = await storage.db.selectFrom('usage_records').select('id').where('user_id', '=', user).execute();
        expect(usage).toHaveLength(1);
      });

      if (dialect === 'postgres') {
        it('lets one instance prune at a time (advisory lock)', async () => {
          const other = openStorage(database.url);
          try {
            await other.db.transaction().execute(async (trx) => {
              await sql`select pg_advisory_xact_lock(${0x5e71ca01})`.execute(trx);
              expect(await pruneOnce(s)).toBeNull();
            });
            expect(await pruneOnce(s)).not.toBeNull();
          } finally {
            await other.close();
          }
        });
      }
    });

    describe('OIDC signing keys', () => {
      it('rotates with publish-then-sign, keeps a retired key published until its last ID token expired, and every instance agrees', async () => {
        const ttl = 3600 * 1000;
        const keys = new SigningKeys(storage.db, ttl, new KeyEncryption([]), now);
        const other = new SigningKeys(storage.db, ttl, new KeyEncryption([]), now); // another instance on the same database
        await keys.ensure();
        const before = await keys.signingKey('RS256');
        const tokens = new IdTokens({ keys, users: s.users, issuer: 'https://issuer.example', ttlSeconds: 3600, now });
        const old = await tokens.mint({ clientId: 'client_x', userId, scopes: ['openid'], accessToken: 'at' });

        const added = await keys.rotate();
        expect(added.map((k) => k.state)).toEqual(['next', 'next', 'next']);
        const next = added.find((k) => k.alg === 'RS256')!;
        // Published at once, not signing yet.
        clock += 31_000;
        expect((await other.jwks()).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([before.kid, next.kid]));
        expect((await other.signingKey('RS256')).kid).toBe(before.kid);
        // Ten minutes on, both instances sign with the new key; the old one still verifies.
        clock += 10 * 60 * 1000;
        expect((await keys.signingKey('RS256')).kid).toBe(next.kid);
        expect((await other.signingKey('RS256')).kid).toBe(next.kid);
        const jwks = createLocalJWKSet(await other.jwks());
        await expect(jwtVerify(old, jwks, { issuer: 'https://issuer.example', currentDate: new Date(clock - 11 * 60 * 1000) })).resolves.toBeDefined();
        expect((await keys.list()).find((k) => k.kid === before.kid)!.state).toBe('retired');
        // The retired key leaves the JWKS once every ID token it signed has expired.
        clock += ttl + 31_000;
        expect((await keys.list()).find((k) => k.kid === before.kid)!.state).toBe('expired');
        expect((await other.jwks()).keys.map((k) => k.kid)).not.toContain(before.kid);
      });

      it('stops the start with one clear error on a corrupt key row', async () => {
        const fresh = await createTestDatabase(dialect);
        const s2 = openStorage(fresh.url);
        try {
          await migrateToLatest(s2);
          const keys = new SigningKeys(s2.db, 3600_000, new KeyEncryption([]), now);
          await keys.ensure();
          await s2.db.updateTable('signing_keys').set({ private_jwk: '{"kty":"RSA","n":"broken"}' }).where('alg', '=', 'RS256').execute();
          await expect(new SigningKeys(s2.db, 3600_000, new KeyEncryption([]), now).ensure()).rejects.toThrow(/signing key .* \(RS256\) in the signing_keys table is corrupt/);
        } finally {
          await s2.close();
          await fresh.cleanup();
        }
      });
    });

    describe('characters', () => {
      it('creates, lists, reads, updates and deletes, and never shows one user another user\'s', async () => {
        const user = await newUser();
        const stranger = await newUser();
        const created = await s.characters.create(user, { name: 'Mira', greeting: 'Hello' });
        const owner = { userId: user };
        const other = { userId: stranger };
        expect(await s.characters.list(owner)).toEqual([created]);
        expect(await s.characters.get(owner, created.id)).toEqual(created);
        await expect(s.characters.get(other, created.id)).rejects.toMatchObject({ code: 'not_found' });
        expect((await s.characters.update(owner, created.id, { personality: 'curious' })).personality).toBe('curious');
        await expect(s.characters.update(other, created.id, { name: 'x' })).rejects.toMatchObject({ code: 'not_found' });
        await expect(s.characters.delete(other, created.id)).rejects.toMatchObject({ code: 'not_found' });
        await s.characters.delete(owner, created.id);
        expect(await s.characters.list(owner)).toEqual([]);
      });

      it("an app's character choice (SPEC §15): outside it a character is not found, listed or paged; an empty choice sees none", async () => {
        const user = await newUser();
        const [a, b] = [await s.characters.create(user, { name: 'Ann' }), await s.characters.create(user, { name: 'Bo' })];
        const onlyA = { userId: user, characters: [a.id] };
        expect(await s.characters.list(onlyA)).toEqual([a]);
        expect((await s.characters.page(onlyA, { limit: 10 })).data).toEqual([a]);
        expect(await s.characters.get(onlyA, a.id)).toEqual(a);
        await expect(s.characters.get(onlyA, b.id)).rejects.toMatchObject({ code: 'not_found' });
        await expect(s.characters.update(onlyA, b.id, { name: 'x' })).rejects.toMatchObject({ code: 'not_found' });
        await expect(s.characters.delete(onlyA, b.id)).rejects.toMatchObject({ code: 'not_found' });
        // A page cursor outside the choice is as unknown as another user's.
        await expect(s.characters.page(onlyA, { limit: 10, after: b.id })).rejects.toMatchObject({ code: 'invalid_value' });
        const none = { userId: user, characters: [] };
        expect(await s.characters.list(none)).toEqual([]);
        await expect(s.characters.get(none, a.id)).rejects.toMatchObject({ code: 'not_found' });
        // Both made within one millisecond, maybe: their order is not what this checks.
        const all = await s.characters.list({ userId: user, characters: null });
        expect(all).toHaveLength(2);
        expect(all).toEqual(expect.arrayContaining([a, b]));
      });
    });
  });
});
