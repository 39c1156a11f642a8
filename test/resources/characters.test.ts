import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { userWithSession, type Agent } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';
import { accessTokenFor, clientWithAllScopes } from '../helpers/tokens.js';

const nova = { name: 'Captain Nova', description: 'A starship captain', personality: 'Bold and kind', greeting: 'Welcome aboard!', avatar: 'https://example.com/nova.png' };

describe.each(DIALECTS)('characters (%s)', (dialect) => {
  let ts: TestServer;
  let alice: Seeded;
  let bob: Seeded;
  let agent: Agent;
  let url: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    ({ user: alice, agent } = await userWithSession(ts, `chars_${dialect}`));
    bob = await seedUser(ts, `bob_chars_${dialect}`);
    url = `${ts.api}/characters`;
  });
  afterAll(async () => ts?.close());

  describe.skipIf(!dialectAvailable(dialect))('first-party CRUD with an API key', () => {
    it('creates, lists, gets, patches and deletes', async () => {
      const created = await call('POST', url, { key: alice.key, json: nova });
      expect(created.status).toBe(201);
      expect(created.json).toEqual({ id: expect.stringMatching(/^char_[0-9a-f]{32}$/), ...nova, createdAt: expect.any(String) });
      const minimal = await call('POST', url, { key: alice.key, json: { name: 'Just a name' } });
      expect(minimal.json).toMatchObject({ description: '', personality: '', greeting: '', avatar: null });
      const list = await call('GET', url, { key: alice.key });
      expect(list.json.object).toBe('list');
      expect(list.json.data.map((c: any) => c.id)).toEqual([created.json.id, minimal.json.id]);
      expect((await call('GET', `${url}/${created.json.id}`, { key: alice.key })).json).toEqual(created.json);
      const patched = await call('PATCH', `${url}/${created.json.id}`, { key: alice.key, json: { greeting: 'Hi!', avatar: null } });
      expect(patched.json).toMatchObject({ greeting: 'Hi!', avatar: null, name: nova.name });
      expect((await call('DELETE', `${url}/${created.json.id}`, { key: alice.key })).status).toBe(204);
      expect((await call('GET', `${url}/${created.json.id}`, { key: alice.key })).status).toBe(404);
    });

    it("answers another user's character with 404 on every verb", async () => {
      const mine = await call('POST', url, { key: alice.key, json: nova });
      for (const [method, json] of [['GET'], ['PATCH', { name: 'x' }], ['DELETE']] as Array<[string, unknown?]>) {
        const reply = await call(method, `${url}/${mine.json.id}`, { key: bob.key, json });
        expect(reply.status).toBe(404);
        expect(reply.json.error.code).toBe('not_found');
      }
      expect((await call('GET', url, { key: bob.key })).json.data).toEqual([]);
    });

    it.each([
      ['no name', { description: 'x' }, 'name'],
      ['an empty name', { name: '' }, 'name'],
      ['a blank name', { name: '  ' }, 'name'],
      ['a long name', { name: 'n'.repeat(101) }, 'name'],
      ['a long personality', { name: 'x', personality: 'p'.repeat(4001) }, 'personality'],
      ['a numeric greeting', { name: 'x', greeting: 5 }, 'greeting'],
      ['a relative avatar', { name: 'x', avatar: '/me.png' }, 'avatar'],
      ['a javascript: avatar', { name: 'x', avatar: 'javascript:alert(1)' }, 'avatar'],
      ['an unknown field', { name: 'x', mood: 'happy' }, 'mood'],
    ])('refuses %s with 400 and param', async (_label, json, param) => {
      const reply = await call('POST', url, { key: alice.key, json });
      expect(reply.status).toBe(400);
      expect(reply.json.error.param).toBe(param);
    });

    it('needs an API key', async () => {
      expect((await call('GET', url)).status).toBe(401);
      expect((await call('GET', url, { key: 'sk-serika-nope' })).json.error.code).toBe('invalid_api_key');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('read by an app with the characters scope', () => {
    it("lists and gets the user's characters, and 404s anyone else's", async () => {
      const mine = await call('POST', url, { key: alice.key, json: nova });
      const theirs = await call('POST', url, { key: bob.key, json: { name: 'Bob’s' } });
      const client = await clientWithAllScopes(ts, alice);
      const token = (await accessTokenFor(ts, agent, client, 'characters')).access_token;
      const bearer = { authorization: `Bearer ${token}` };
      const list = await call('GET', `${ts.api}/oauth/characters`, { headers: bearer });
      expect(list.status).toBe(200);
      expect(list.json.data.map((c: any) => c.id)).toContain(mine.json.id);
      expect(list.json.data.map((c: any) => c.id)).not.toContain(theirs.json.id);
      expect((await call('GET', `${ts.api}/oauth/characters/${mine.json.id}`, { headers: bearer })).json).toEqual(mine.json);
      const other = await call('GET', `${ts.api}/oauth/characters/${theirs.json.id}`, { headers: bearer });
      expect(other.status).toBe(404);
      expect(other.json.error.code).toBe('not_found');
    });
  });
});
