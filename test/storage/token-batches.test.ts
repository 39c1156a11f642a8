import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KyselyPlugin } from 'kysely';
import pg from 'pg';
import { parseConfig } from '../../src/config.js';
import { createServices, type Services } from '../../src/services.js';
import { credentialKey } from '../../src/oauth/store/credentials.js';
import { OAuthStore } from '../../src/oauth/store/store.js';
import type { TokenSubject } from '../../src/oauth/store/token-pair.js';
import { tokenState } from '../../src/oauth/store/token-state.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { until } from '../helpers/until.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const LIFETIMES = { accessToken: 3600, refreshToken: 86_400, authCode: 60 };

/** Counts the statements run through it; `failAt` makes the statement of that count fail after it ran. */
class Counting implements KyselyPlugin {
  count = 0;
  failAt = 0;
  transformQuery: KyselyPlugin['transformQuery'] = (args) => args.node;
  transformResult: KyselyPlugin['transformResult'] = async (args) => {
    if (++this.count === this.failAt) throw new Error('connection lost');
    return args.result;
  };
}

/**
 * Redemptions and rotations of one event-loop turn (PostgreSQL: the code or
 * token reads in one statement, the consuming writes in another; SQLite:
 * statements of their own), on every dialect: each caller's outcome is what
 * it would be alone.
 */
describe.each(DIALECTS)('redemptions and rotations of one turn (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let s: Services;
  let store: OAuthStore;
  const counting = new Counting();
  let userId: string;
  let clientId: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    s = createServices(parseConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' }), storage);
    userId = (await s.users.create({ username: `${dialect}_batches`, password: 'correct horse battery staple' })).id;
    clientId = (await s.clients.create(userId, { name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['profile'] })).clientId;
    store = new OAuthStore(storage.db.withPlugin(counting), LIFETIMES);
  });
  afterAll(async () => {
    await s?.upstream.close();
    await storage?.close();
    await database?.cleanup();
  });

  const subject: TokenSubject = { clientId: '', userId: '', scopes: ['profile'] };
  const codes = (n: number) => Promise.all(Array.from({ length: n }, () => store.codes.create({ clientId, userId, scopes: ['profile'], redirectUri: 'https://a.example/cb', codeChallenge: CHALLENGE })));
  const redeem = async (code: string, as: Partial<TokenSubject> = {}) => {
    const redemption = await store.issuance.redeemCode(code, () => ({ subject: { ...subject, clientId, userId, ...as } }));
    return 'issued' in redemption ? redemption.issued : 'replayed' in redemption ? 'replayed' : 'refused';
  };
  const rowsOf = (code: string) => storage.db.selectFrom('oauth_tokens').select('kind').where('code_hash', '=', credentialKey(code)).execute();
  const consumedAt = async (code: string) => (await storage.db.selectFrom('oauth_codes').select('consumed_at').where('code_hash', '=', credentialKey(code)).executeTakeFirstOrThrow()).consumed_at;

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('redeems many codes at once, each with tokens of its own; on PostgreSQL in one read and one write', async () => {
      const eight = await codes(8);
      counting.count = 0;
      const issued = await Promise.all(eight.map((code) => redeem(code)));
      if (dialect === 'postgres') expect(counting.count).toBe(2);
      const tokens = issued.map((i) => (typeof i === 'string' ? i : i.access_token));
      expect(new Set(tokens).size).toBe(8);
      for (const [i, code] of eight.entries()) {
        expect((await rowsOf(code)).map((r) => r.kind).sort()).toEqual(['access', 'refresh']);
        expect((await s.oauth.tokens.findLiveAccess(tokens[i]!))?.userId).toBe(userId);
      }
    });

    it('of two redemptions of one code at once, one gets tokens and the other is a replay; one pair is written', async () => {
      const [code] = await codes(1);
      const outcomes = await Promise.all([redeem(code!), redeem(code!), redeem(code!)]);
      expect(outcomes.filter((o) => typeof o !== 'string')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(2);
      expect(await rowsOf(code!)).toHaveLength(2);
    });

    it('a redemption the foreign keys refuse fails alone: the others of its turn get their tokens, and its code stays unused', async () => {
      const three = await codes(3);
      const outcomes = await Promise.allSettled([redeem(three[0]!), redeem(three[1]!, { clientId: 'client_gone' }), redeem(three[2]!)]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/foreign key/i);
      expect(await consumedAt(three[1]!)).toBeNull();
      expect(await rowsOf(three[1]!)).toEqual([]);
      for (const code of [three[0]!, three[2]!]) expect(await rowsOf(code)).toHaveLength(2);
    });

    it('rotates the live refresh tokens of a turn and only those: a revoked or used one is not rotated', async () => {
      const [a, b, c] = await codes(3);
      const first = await Promise.all([a, b, c].map((code) => redeem(code!)));
      const [live, revoked, used] = first.map((i) => (typeof i === 'string' ? '' : i.refresh_token!));
      await s.oauth.revocation.token(credentialKey(revoked!));
      counting.count = 0;
      const rows = await Promise.all([live, revoked, used].map(async (token) => (await store.tokens.find(token!))!));
      if (dialect === 'postgres') expect(counting.count).toBe(1);
      expect(await store.issuance.rotateRefresh(rows[2]!, { clientId, userId, scopes: ['profile'] })).not.toBeNull();
      const rotated = await Promise.all(rows.map((row) => store.issuance.rotateRefresh(row, { clientId, userId, scopes: ['profile'] })));
      expect(rotated.map((r) => r !== null)).toEqual([true, false, false]);
      expect(tokenState((await store.tokens.find(live!))!, Date.now())).toBe('consumed');
      expect(tokenState((await store.tokens.find(revoked!))!, Date.now())).toBe('revoked');
    });
  });

  it.skipIf(dialect !== 'postgres' || !dialectAvailable(dialect))('a batch never waits for a row another transaction holds: the others go on, that one waits alone', async () => {
    // Waiting for one lock while holding others could deadlock the batch with a revocation (which locks rows in an
    // order of its own), and PostgreSQL could roll back the revocation.
    const three = await codes(3);
    const first = await Promise.all(three.map((code) => redeem(code)));
    const tokens = first.map((i) => (typeof i === 'string' ? '' : i.refresh_token!));
    const rows = await Promise.all(tokens.map(async (token) => (await store.tokens.find(token))!));
    const holder = new pg.Client(database.url);
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from oauth_tokens where token_hash = $1 for update', [rows[1]!.token_hash]);
      const settled: boolean[] = [false, false, false];
      const rotations = rows.map((row, i) =>
        store.issuance.rotateRefresh(row, { clientId, userId, scopes: ['profile'] }).then((issued) => {
          settled[i] = true;
          return issued;
        }),
      );
      await until(() => settled[0]! && settled[2]!, { timeoutMs: 10_000, message: 'the rotations of the rows not held' });
      expect(settled[1]).toBe(false);
      await holder.query('rollback');
      expect((await Promise.all(rotations)).map((r) => r !== null)).toEqual([true, true, true]);
    } finally {
      await holder.end();
    }
  });

  it.skipIf(dialect !== 'postgres' || !dialectAvailable(dialect))('a batch that fails after it ran (a connection lost) fails each of its redemptions, none written again alone', async () => {
    const two = await codes(2);
    counting.count = 0;
    // The read, then the write, which commits and then fails on its way back.
    counting.failAt = 2;
    const outcomes = await Promise.allSettled(two.map((code) => redeem(code)));
    counting.failAt = 0;
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/connection lost/);
    expect(counting.count).toBe(2);
  });
});
