import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const valid = {
  name: 'My AI Writer',
  redirectUris: ['https://myapp.example.com/callback'],
  scopes: ['profile', 'generations'],
};

function expectOpenAIError(reply: { json: any }, code: string, param: string | null = null) {
  expect(reply.json).toEqual({
    error: { message: expect.any(String), type: expect.any(String), param, code },
  });
  expect(Object.keys(reply.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(reply.json.error.message).not.toMatch(/\n\s+at /); // never a stack trace
}

describe.each(DIALECTS)('client-management API over HTTP (%s)', (dialect) => {
  let ts: TestServer;
  let alice: Seeded;
  let bob: Seeded;
  let clients: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    alice = await seedUser(ts, `alice_${dialect}`);
    bob = await seedUser(ts, `bob_${dialect}`);
    clients = `${ts.api}/oauth/clients`;
  });
  afterAll(async () => {
    await ts?.close();
  });

  describe.skipIf(!dialectAvailable(dialect))('success paths', () => {
    it('creates a confidential client and shows its secret once', async () => {
      const reply = await call('POST', clients, { key: alice.key, json: valid });
      expect(reply.status).toBe(201);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect(reply.json).toEqual({
        clientId: expect.stringMatching(/^client_[0-9a-f]{32}$/),
        name: valid.name,
        redirectUris: valid.redirectUris,
        scopes: valid.scopes,
        public: false,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        idTokenSigningAlg: 'RS256',
        postLogoutRedirectUris: [],
        grantTypes: ['authorization_code', 'refresh_token'],
        webhookUrl: null,
        webhookEvents: ['grant.revoked', 'tokens.revoked', 'user.deleted', 'budget.threshold', 'budget.changed'],
        backchannelLogoutUri: null,
        logoUri: null,
        clientUri: null,
        policyUri: null,
        tosUri: null,
        contacts: [],
        logoUrl: null,
        logoError: null,
        verified: false,
        suspended: false,
        clientSecret: expect.stringMatching(/^secret_[A-Za-z0-9_-]{43}$/),
      });
      const listed = await call('GET', clients, { key: alice.key });
      expect(listed.text).not.toContain(reply.json.clientSecret);
      const got = await call('GET', `${clients}/${reply.json.clientId}`, { key: alice.key });
      expect(got.text).not.toContain(reply.json.clientSecret);
      expect(got.json).not.toHaveProperty('clientSecret');
    });

    it('stores only a hash of the secret', async () => {
      const reply = await call('POST', clients, { key: alice.key, json: valid });
      const row = await ts.services.storage.db
        .selectFrom('oauth_clients')
        .selectAll()
        .where('id', '=', reply.json.clientId)
        .executeTakeFirstOrThrow();
      expect(JSON.stringify(row)).not.toContain(reply.json.clientSecret);
      expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    });

    it('grantTypes: the device grant is opted into, kept, changed by PATCH, and unknown grant types are refused', async () => {
      const device = 'urn:ietf:params:oauth:grant-type:device_code';
      const reply = await call('POST', clients, { key: alice.key, json: { ...valid, grantTypes: ['authorization_code', 'refresh_token', device] } });
      expect(reply.status).toBe(201);
      expect(reply.json.grantTypes).toEqual(['authorization_code', 'refresh_token', device]);
      const patched = await call('PATCH', `${clients}/${reply.json.clientId}`, { key: alice.key, json: { grantTypes: ['authorization_code', 'refresh_token'] } });
      expect(patched.json.grantTypes).toEqual(['authorization_code', 'refresh_token']);
      for (const grantTypes of [['implicit'], [], ['authorization_code', 'authorization_code'], 'authorization_code']) {
        const bad = await call('POST', clients, { key: alice.key, json: { ...valid, grantTypes } });
        expect(bad.status).toBe(400);
        expect(bad.json.error.param).toBe('grantTypes');
      }
    });

    it('creates a public client with a null secret', async () => {
      const reply = await call('POST', clients, {
        key: alice.key,
        json: { ...valid, public: true, redirectUris: ['com.example.app:/cb', 'http://127.0.0.1/cb', 'http://[::1]:8080/cb'] },
      });
      expect(reply.status).toBe(201);
      expect(reply.json.public).toBe(true);
      expect(reply.json.clientSecret).toBeNull();
    });

    it('lists only the caller’s own clients, newest last, without secrets', async () => {
      const mine = await call('POST', clients, { key: bob.key, json: { ...valid, name: 'Bob app' } });
      const list = await call('GET', clients, { key: bob.key });
      expect(list.status).toBe(200);
      expect(list.json.object).toBe('list');
      expect(list.json.data.map((c: any) => c.clientId)).toEqual([mine.json.clientId]);
      expect(Object.keys(list.json.data[0]).sort()).toEqual([
        'backchannelLogoutUri',
        'clientId',
        'clientUri',
        'contacts',
        'createdAt',
        'grantTypes',
        'idTokenSigningAlg',
        'logoError',
        'logoUri',
        'logoUrl',
        'name',
        'policyUri',
        'postLogoutRedirectUris',
        'public',
        'redirectUris',
        'scopes',
        'suspended',
        'tosUri',
        'verified',
        'webhookEvents',
        'webhookUrl',
      ]);
      const aliceList = await call('GET', clients, { key: alice.key });
      expect(aliceList.json.data.map((c: any) => c.clientId)).not.toContain(mine.json.clientId);
    });

    it('gets, patches and deletes a client', async () => {
      const created = await call('POST', clients, { key: alice.key, json: valid });
      const url = `${clients}/${created.json.clientId}`;
      const got = await call('GET', url, { key: alice.key });
      expect(got.status).toBe(200);
      const { clientSecret: _secret, ...withoutSecret } = created.json;
      expect(got.json).toEqual(withoutSecret);

      const patched = await call('PATCH', url, {
        key: alice.key,
        json: { name: 'Renamed', scopes: ['profile'], redirectUris: ['https://new.example.com/cb'] },
      });
      expect(patched.status).toBe(200);
      expect(patched.json).toMatchObject({ name: 'Renamed', scopes: ['profile'], redirectUris: ['https://new.example.com/cb'] });
      expect(patched.json.createdAt).toBe(created.json.createdAt);
      expect((await call('GET', url, { key: alice.key })).json.name).toBe('Renamed');

      const deleted = await call('DELETE', url, { key: alice.key });
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
      expect((await call('GET', url, { key: alice.key })).status).toBe(404);
      expect((await call('DELETE', url, { key: alice.key })).status).toBe(404);
    });

    it('resets a secret: a new one, and only its hash is stored', async () => {
      const created = await call('POST', clients, { key: alice.key, json: valid });
      const reset = await call('POST', `${clients}/${created.json.clientId}/reset-secret`, { key: alice.key });
      expect(reset.status).toBe(200);
      expect(reset.headers.get('cache-control')).toBe('no-store');
      expect(reset.json).toEqual({ clientId: created.json.clientId, clientSecret: expect.stringMatching(/^secret_[A-Za-z0-9_-]{43}$/) });
      expect(reset.json.clientSecret).not.toBe(created.json.clientSecret);
      const row = await ts.services.storage.db
        .selectFrom('oauth_clients')
        .select('secret_hash')
        .where('id', '=', created.json.clientId)
        .executeTakeFirstOrThrow();
      const { sha256Hex } = await import('../../src/security/secrets.js');
      expect(row.secret_hash).toBe(sha256Hex(reset.json.clientSecret));
    });

    it('accepts reset-secret with an empty JSON body, as cURL sends it', async () => {
      const created = await call('POST', clients, { key: alice.key, json: valid });
      const reset = await call('POST', `${clients}/${created.json.clientId}/reset-secret`, {
        key: alice.key,
        headers: { 'content-type': 'application/json' },
      });
      expect(reset.status).toBe(200);
    });

    it('refuses to reset the secret of a public client', async () => {
      const created = await call('POST', clients, { key: alice.key, json: { ...valid, public: true } });
      const reset = await call('POST', `${clients}/${created.json.clientId}/reset-secret`, { key: alice.key });
      expect(reset.status).toBe(400);
      expectOpenAIError(reset, 'public_client');
      expect(reset.json.error.type).toBe('invalid_request_error');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('authentication', () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['no Authorization header', {}],
      ['an unknown key', { authorization: 'Bearer sk-serika-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
      ['a key without the prefix', { authorization: 'Bearer nope' }],
      ['Basic instead of Bearer', { authorization: 'Basic dXNlcjpwYXNz' }],
      ['Bearer with no value', { authorization: 'Bearer' }],
      ['an empty header', { authorization: '' }],
    ];
    const endpoints = (id: string): Array<[string, string]> => [
      ['POST', clients],
      ['GET', clients],
      ['GET', `${clients}/${id}`],
      ['PATCH', `${clients}/${id}`],
      ['DELETE', `${clients}/${id}`],
      ['POST', `${clients}/${id}/reset-secret`],
    ];

    it.each(cases)('answers 401 invalid_api_key to %s on every endpoint', async (_label, headers) => {
      const created = await call('POST', clients, { key: alice.key, json: valid });
      for (const [method, url] of endpoints(created.json.clientId)) {
        const reply = await call(method, url, { headers, json: method === 'PATCH' || method === 'POST' ? valid : undefined });
        expect(reply.status, `${method} ${url}`).toBe(401);
        expectOpenAIError(reply, 'invalid_api_key');
        expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="serika"');
      }
      // Nothing was changed by the refused calls.
      expect((await call('GET', `${clients}/${created.json.clientId}`, { key: alice.key })).json.name).toBe(valid.name);
    });

    it('refuses a revoked key at once', async () => {
      const { key, prefix } = await ts.services.apiKeys.create(alice.userId, 'to revoke');
      expect((await call('GET', clients, { key })).status).toBe(200);
      await ts.services.apiKeys.revoke(alice.userId, prefix);
      const reply = await call('GET', clients, { key });
      expect(reply.status).toBe(401);
      expectOpenAIError(reply, 'invalid_api_key');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))("another user's client", () => {
    it('is a 404 not_found on every verb and never in the list', async () => {
      const created = await call('POST', clients, { key: alice.key, json: valid });
      const id = created.json.clientId;
      const attempts: Array<[string, string, unknown]> = [
        ['GET', `${clients}/${id}`, undefined],
        ['PATCH', `${clients}/${id}`, { name: 'hijacked' }],
        ['DELETE', `${clients}/${id}`, undefined],
        ['POST', `${clients}/${id}/reset-secret`, undefined],
      ];
      for (const [method, url, json] of attempts) {
        const reply = await call(method, url, { key: bob.key, json });
        expect(reply.status, `${method} ${url}`).toBe(404);
        expectOpenAIError(reply, 'not_found');
      }
      expect((await call('GET', clients, { key: bob.key })).json.data.map((c: any) => c.clientId)).not.toContain(id);
      // Alice's client is untouched: same name, and the original secret hash.
      const mine = await call('GET', `${clients}/${id}`, { key: alice.key });
      expect(mine.json.name).toBe(valid.name);
    });

    it('answers an unknown client id like another user’s', async () => {
      for (const id of ['client_00000000000000000000000000000000', 'nonsense', 'a'.repeat(300)]) {
        const reply = await call('GET', `${clients}/${id}`, { key: alice.key });
        expect(reply.status).toBe(404);
        expectOpenAIError(reply, 'not_found');
      }
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('validation (400 with param)', () => {
    const invalid: Array<[string, unknown, string, string]> = [
      ['a missing name', { redirectUris: valid.redirectUris, scopes: valid.scopes }, 'name', 'missing_required_parameter'],
      ['an empty name', { ...valid, name: '' }, 'name', 'invalid_value'],
      ['a blank name', { ...valid, name: '   ' }, 'name', 'invalid_value'],
      ['a 101-character name', { ...valid, name: 'x'.repeat(101) }, 'name', 'invalid_value'],
      ['a name with control characters', { ...valid, name: 'bad\u0000name' }, 'name', 'invalid_value'],
      ['a numeric name', { ...valid, name: 42 }, 'name', 'invalid_type'],
      ['missing redirectUris', { name: 'x', scopes: valid.scopes }, 'redirectUris', 'missing_required_parameter'],
      ['no redirect URIs', { ...valid, redirectUris: [] }, 'redirectUris', 'invalid_value'],
      ['11 redirect URIs', { ...valid, redirectUris: Array.from({ length: 11 }, (_, i) => `https://a.example/${i}`) }, 'redirectUris', 'invalid_value'],
      ['duplicate redirect URIs', { ...valid, redirectUris: ['https://a.example/cb', 'https://a.example/cb'] }, 'redirectUris', 'invalid_value'],
      ['redirectUris as a string', { ...valid, redirectUris: 'https://a.example/cb' }, 'redirectUris', 'invalid_type'],
      ['a non-string redirect URI', { ...valid, redirectUris: [7] }, 'redirectUris', 'invalid_type'],
      ['a redirect URI with a fragment', { ...valid, redirectUris: ['https://a.example/cb#frag'] }, 'redirectUris', 'invalid_value'],
      ['a redirect URI with an empty fragment', { ...valid, redirectUris: ['https://a.example/cb#'] }, 'redirectUris', 'invalid_value'],
      ['http on a non-loopback host', { ...valid, redirectUris: ['http://myapp.example.com/cb'] }, 'redirectUris', 'invalid_value'],
      ['http on a look-alike of localhost', { ...valid, redirectUris: ['http://localhost.evil.com/cb'] }, 'redirectUris', 'invalid_value'],
      ['a wildcard host', { ...valid, redirectUris: ['https://*.example.com/cb'] }, 'redirectUris', 'invalid_value'],
      ['a wildcard path', { ...valid, redirectUris: ['https://a.example.com/*'] }, 'redirectUris', 'invalid_value'],
      ['a relative URI', { ...valid, redirectUris: ['/callback'] }, 'redirectUris', 'invalid_value'],
      ['a scheme-relative URI', { ...valid, redirectUris: ['//a.example.com/cb'] }, 'redirectUris', 'invalid_value'],
      ['a custom scheme without a dot', { ...valid, redirectUris: ['myapp:/callback'] }, 'redirectUris', 'invalid_value'],
      ['a javascript: URI', { ...valid, redirectUris: ['javascript:alert(1)'] }, 'redirectUris', 'invalid_value'],
      ['a data: URI', { ...valid, redirectUris: ['data:text/html,hi'] }, 'redirectUris', 'invalid_value'],
      ['credentials in the URI', { ...valid, redirectUris: ['https://user:pw@a.example.com/cb'] }, 'redirectUris', 'invalid_value'],
      ['a space in the URI', { ...valid, redirectUris: ['https://a.example.com/c b'] }, 'redirectUris', 'invalid_value'],
      ['an empty URI', { ...valid, redirectUris: [''] }, 'redirectUris', 'invalid_value'],
      ['a 1 MB redirect URI', { ...valid, redirectUris: ['https://a.example.com/' + 'a'.repeat(900_000)] }, 'redirectUris', 'invalid_value'],
      ['missing scopes', { name: 'x', redirectUris: valid.redirectUris }, 'scopes', 'missing_required_parameter'],
      ['empty scopes', { ...valid, scopes: [] }, 'scopes', 'invalid_value'],
      ['an unknown scope', { ...valid, scopes: ['profile', 'admin'] }, 'scopes', 'invalid_value'],
      ['duplicate scopes', { ...valid, scopes: ['profile', 'profile'] }, 'scopes', 'invalid_value'],
      ['scopes as a space-separated string', { ...valid, scopes: 'profile generations' }, 'scopes', 'invalid_type'],
      ['public as a string', { ...valid, public: 'true' }, 'public', 'invalid_type'],
      ['an unknown field', { ...valid, owner: 'me' }, 'owner', 'unknown_parameter'],
      ['a snake_case field', { ...valid, redirect_uris: ['https://a.example/cb'] }, 'redirect_uris', 'unknown_parameter'],
    ];

    it.each(invalid)('refuses %s', async (_label, body, param, code) => {
      const before = (await call('GET', clients, { key: alice.key })).json.data.length;
      const reply = await call('POST', clients, { key: alice.key, json: body });
      expect(reply.status).toBe(400);
      expectOpenAIError(reply, code, param);
      expect(reply.json.error.type).toBe('invalid_request_error');
      expect((await call('GET', clients, { key: alice.key })).json.data.length).toBe(before);
    });

    it('accepts each allowed redirect URI form', async () => {
      const reply = await call('POST', clients, {
        key: alice.key,
        json: {
          ...valid,
          redirectUris: [
            'https://a.example.com/cb?x=1',
            'http://127.0.0.1:8080/cb',
            'http://localhost/cb',
            'http://[::1]:3000/cb',
            'com.example.app:/oauth2redirect',
            'com.example.app:/cb',
          ],
        },
      });
      expect(reply.status).toBe(201);
    });

    it('applies the same rules to PATCH', async () => {
      const created = await call('POST', clients, { key: alice.key, json: valid });
      const url = `${clients}/${created.json.clientId}`;
      const patches: Array<[unknown, string | null, string]> = [
        [{ redirectUris: ['http://evil.example.com/cb'] }, 'redirectUris', 'invalid_value'],
        [{ scopes: [] }, 'scopes', 'invalid_value'],
        [{ name: '' }, 'name', 'invalid_value'],
        [{ public: true }, 'public', 'unknown_parameter'],
        [{ clientId: 'client_x' }, 'clientId', 'unknown_parameter'],
        [{}, null, 'invalid_request'],
      ];
      for (const [json, param, code] of patches) {
        const reply = await call('PATCH', url, { key: alice.key, json });
        expect(reply.status, JSON.stringify(json)).toBe(400);
        expectOpenAIError(reply, code, param);
      }
      expect((await call('GET', url, { key: alice.key })).json).toMatchObject({ name: valid.name, scopes: valid.scopes });
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('malformed requests: 4xx, never 5xx, never a stack trace', () => {
    const raw: Array<[string, string | Buffer | null, Record<string, string>, number]> = [
      ['malformed JSON', '{"name": "x",', { 'content-type': 'application/json' }, 400],
      ['a JSON array', '[1,2,3]', { 'content-type': 'application/json' }, 400],
      ['a JSON string', '"hello"', { 'content-type': 'application/json' }, 400],
      ['JSON null', 'null', { 'content-type': 'application/json' }, 400],
      ['an empty body', '', { 'content-type': 'application/json' }, 400],
      ['no body and no content type', null, {}, 400],
      ['a form body', 'name=x&scopes=profile', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
      ['text/plain', JSON.stringify(valid), { 'content-type': 'text/plain' }, 415],
      ['prototype poisoning', '{"__proto__":{"admin":true},"name":"x"}', { 'content-type': 'application/json' }, 400],
      ['bad UTF-8', Buffer.from([0x7b, 0x22, 0x6e, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), { 'content-type': 'application/json' }, 400],
      ['a 1 MB name', JSON.stringify({ ...valid, name: 'n'.repeat(1_000_000) }), { 'content-type': 'application/json' }, 400],
      ['a 1 MB redirect URI', JSON.stringify({ ...valid, redirectUris: ['https://a.example/' + 'u'.repeat(1_000_000)] }), { 'content-type': 'application/json' }, 400],
      ['a 10 MB body', JSON.stringify({ ...valid, name: 'n'.repeat(10 * 1024 * 1024) }), { 'content-type': 'application/json' }, 413],
      ['deeply nested JSON', '{"name":' + '['.repeat(5000) + ']'.repeat(5000) + '}', { 'content-type': 'application/json' }, 400],
    ];

    it.each(raw)('answers %s with a 4xx in the error format', async (_label, body, headers, status) => {
      const reply = await call('POST', clients, { key: alice.key, body: body ?? undefined, headers });
      expect(reply.status).toBe(status);
      expectOpenAIError(reply, reply.json.error.code, reply.json.error.param);
      expect(reply.text).not.toMatch(/at .*\.(js|ts):\d+/);
    });

    it('answers an unknown API route with a 404 in the error format', async () => {
      const reply = await call('GET', `${ts.api}/oauth/nothing-here`, { key: alice.key });
      expect(reply.status).toBe(404);
      expectOpenAIError(reply, 'not_found');
    });

    it('answers an unsupported method with a 4xx', async () => {
      const reply = await call('PUT', clients, { key: alice.key, json: valid });
      expect([404, 405]).toContain(reply.status);
    });

    it('keeps serving after all of that', async () => {
      expect((await call('GET', clients, { key: alice.key })).status).toBe(200);
      expect((await call('GET', `${ts.url}/healthz`)).status).toBe(200);
    });
  });
});

describe.each(DIALECTS)('lists a page at a time, and caps clients per user (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  const valid = { name: 'Paged', redirectUris: ['https://a.example/cb'], scopes: ['profile'] };
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { MAX_CLIENTS_PER_USER: '7' });
    owner = await seedUser(ts);
  });
  afterAll(async () => ts?.close());

  it.skipIf(!dialectAvailable(dialect))('pages clients with limit and after in OpenAI list shape, then refuses the 8th with a clear 400', async () => {
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { ...valid, name: `Paged ${i}` } })).json.clientId);
    // Newest last: by creation time, and by id among clients made in the same millisecond (a fast machine makes several).
    const all = await call('GET', `${ts.api}/oauth/clients`, { key: owner.key });
    expect(all.json.data).toHaveLength(7);
    expect(all.json.has_more).toBe(false);
    const listed: Array<{ clientId: string; createdAt: string }> = all.json.data;
    const key = (c: { clientId: string; createdAt: string }) => `${new Date(c.createdAt).getTime().toString().padStart(15, '0')} ${c.clientId}`;
    const order = (a: { clientId: string; createdAt: string }, b: { clientId: string; createdAt: string }) => (key(a) < key(b) ? -1 : 1);
    expect(listed).toEqual([...listed].sort(order));
    expect(listed.map((c) => c.clientId).sort()).toEqual([...created].sort());
    const ids = listed.map((c) => c.clientId);

    const first = await call('GET', `${ts.api}/oauth/clients?limit=3`, { key: owner.key });
    expect(first.json).toMatchObject({ object: 'list', has_more: true, first_id: ids[0], last_id: ids[2] });
    expect(first.json.data.map((c: { clientId: string }) => c.clientId)).toEqual(ids.slice(0, 3));
    const second = await call('GET', `${ts.api}/oauth/clients?limit=3&after=${first.json.last_id}`, { key: owner.key });
    expect(second.json.data.map((c: { clientId: string }) => c.clientId)).toEqual(ids.slice(3, 6));
    const last = await call('GET', `${ts.api}/oauth/clients?limit=3&after=${second.json.last_id}`, { key: owner.key });
    expect(last.json).toMatchObject({ has_more: false, first_id: ids[6], last_id: ids[6] });

    for (const query of ['limit=0', 'limit=101', 'limit=x', 'after=client_nope', 'cursor=1']) {
      const bad = await call('GET', `${ts.api}/oauth/clients?${query}`, { key: owner.key });
      expect(bad.status, query).toBe(400);
      expect(bad.json.error.type).toBe('invalid_request_error');
    }
    const stranger = await seedUser(ts);
    const empty = await call('GET', `${ts.api}/oauth/clients`, { key: stranger.key });
    expect(empty.json).toEqual({ object: 'list', data: [], has_more: false, first_id: null, last_id: null });
    expect((await call('GET', `${ts.api}/oauth/clients?after=${created[0]}`, { key: stranger.key })).status).toBe(400);

    const eighth = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: valid });
    expect(eighth.status).toBe(400);
    expect(eighth.json.error.message).toContain('MAX_CLIENTS_PER_USER');
  });

  it.skipIf(!dialectAvailable(dialect))('pages characters the same way', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call('POST', `${ts.api}/characters`, { key: owner.key, json: { name: `C${i}` } })).json.id);
    const page = await call('GET', `${ts.api}/characters?limit=2&after=${ids[0]}`, { key: owner.key });
    expect(page.json).toMatchObject({ object: 'list', has_more: false, first_id: ids[1], last_id: ids[2] });
  });
});
