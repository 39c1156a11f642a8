import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { hiddenField, obtainCode, registerClient, signIn, tokenRequest } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type TestServer } from '../helpers/server.js';

const REDIS_URL = process.env.TEST_REDIS_URL;
type Instance = Awaited<ReturnType<typeof startInstance>>;

/**
 * SPEC §15 across instances: the user changes an app's characters on the
 * connected-apps card of one instance; another, which holds the app's token
 * in its cache, obeys within the cache's second (the invalidation feed that
 * revocation uses).
 */
describe.skipIf(!PG_URL || !REDIS_URL)('a character choice changed on another instance (PostgreSQL + Redis)', () => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env = { REDIS_URL: REDIS_URL!, RATE_LIMIT_TOKEN: '0' };
    a = await startInstance(database.url, env);
    b = await startInstance(database.url, env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.cleanup();
  });

  const serverOf = (instance: Instance) => instance as unknown as TestServer;

  it('"Only these" saved through B: A, holding the token in its cache, answers 404 for the other character within 1 s', async () => {
    const owner = await seedUser(a, `chars_${randomBytes(4).toString('hex')}`);
    const client = await registerClient(a, owner, { scopes: ['characters'] });
    const ann = (await call('POST', `${a.api}/characters`, { key: owner.key, json: { name: 'Ann' } })).json.id as string;
    const bo = (await call('POST', `${a.api}/characters`, { key: owner.key, json: { name: 'Bo' } })).json.id as string;
    const { code, verifier } = await obtainCode(serverOf(a), await signIn(serverOf(a), owner.username), client, { scope: 'characters', prompt: 'consent' });
    const token = (await tokenRequest(a, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId, client_secret: client.clientSecret! })).json.access_token as string;
    const statusAt = async (instance: Instance, id: string) => (await call('GET', `${instance.api}/oauth/characters/${id}`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await statusAt(a, bo)).toBe(200);
    expect(a.services.oauth.tokens.isCached(token)).toBe(true);

    const atB = await signIn(serverOf(b), owner.username);
    const card = await (await atB.fetch('/dashboard/apps')).text();
    const saved = await atB.fetch(`/dashboard/apps/${encodeURIComponent(client.clientId)}/characters`, { form: { _csrf: hiddenField(card, '_csrf'), characters: 'only', character_ids: ann } });
    expect(saved.status).toBe(303);
    const started = Date.now();
    let status = 200;
    while (status !== 404 && Date.now() - started < 1000) status = await statusAt(a, bo);
    expect(status).toBe(404);
    expect(await statusAt(a, ann)).toBe(200);
  });
});
