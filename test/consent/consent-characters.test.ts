import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { authorizeUrl, basic, form, hiddenField, pkce, standardParams, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const only = (...ids: string[]) => JSON.stringify([{ type: 'serika_characters', ids }]);

/** SPEC §15: per-character consent, from RFC 9396 authorization_details to the token response, introspection, the API and token exchange. */
describe.each(DIALECTS)('per-character consent (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let app: TestClient & { clientSecret: string };
  let ann: string;
  let bo: string;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    ({ user: owner, agent } = await userWithSession(ts, `chars_${dialect}`));
    const made = await call('POST', `${ts.api}/oauth/clients`, {
      key: owner.key,
      json: { name: 'Lore Keeper', redirectUris: ['https://lore.example.com/cb'], scopes: ['profile', 'characters'], grantTypes: ['authorization_code', 'refresh_token', DEVICE] },
    });
    app = { clientId: made.json.clientId, clientSecret: made.json.clientSecret, redirectUri: 'https://lore.example.com/cb', scopes: ['profile', 'characters'] };
    ann = (await call('POST', `${ts.api}/characters`, { key: owner.key, json: { name: 'Ann' } })).json.id;
    bo = (await call('POST', `${ts.api}/characters`, { key: owner.key, json: { name: 'Bo' } })).json.id;
  });
  afterAll(async () => ts?.close());

  const auth = () => ({ authorization: basic(app.clientId, app.clientSecret) });
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const introspect = async (token: string) =>
    (await call('POST', `${ts.api}/oauth/introspect`, { body: form({ token }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth() } })).json as Record<string, unknown>;
  const checkbox = (html: string, id: string) => new RegExp(`<input type="checkbox"[^>]*value="${id}"[^>]*>`).exec(html)?.[0] ?? '';

  /** Authorize (with details when given), post the page's form with `choice`, and redeem the code. */
  async function consent(details: string | undefined, choice: Record<string, string>, scope = 'characters', client = app) {
    const { verifier, challenge } = pkce();
    const page = await agent.fetch(authorizeUrl(ts, standardParams(client, challenge, { scope, prompt: 'consent', ...(details ? { authorization_details: details } : {}) })));
    const html = await page.text();
    expect(page.status, html).toBe(200);
    const back = await agent.fetch(`${ts.api}/oauth/authorize/decision`, { form: { _csrf: hiddenField(html, '_csrf'), request_id: hiddenField(html, 'request_id'), decision: 'allow', ...choice } });
    expect(back.status).toBe(303);
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
    const tokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }), { authorization: basic(client.clientId, client.clientSecret) });
    expect(tokens.status).toBe(200);
    return { html, tokens: tokens.json };
  }

  describe.skipIf(!dialectAvailable(dialect))('the flow', () => {
    it('pre-ticks what the app asks; the choice is granted, echoed, introspected, refreshed, and obeyed by the API', async () => {
      const { html, tokens } = await consent(only(ann), { characters: 'only', character_ids: ann });
      expect(html).toContain('<legend>Which characters may Lore Keeper see?</legend>');
      expect(html).toMatch(/id="characters-only"[^>]* checked/);
      expect(html).not.toMatch(/id="characters-all"[^>]* checked/);
      expect(checkbox(html, ann)).toContain(' checked');
      expect(checkbox(html, bo)).not.toContain(' checked');
      expect(html).toMatch(/<label for="character-1">Bo<\/label>/);
      expect(tokens.authorization_details).toEqual([{ type: 'serika_characters', ids: [ann] }]);
      expect((await introspect(tokens.access_token)).authorization_details).toEqual([{ type: 'serika_characters', ids: [ann] }]);
      const refreshed = await tokenRequest(ts, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }), auth());
      expect(refreshed.json.authorization_details).toEqual([{ type: 'serika_characters', ids: [ann] }]);

      const list = await call('GET', `${ts.api}/oauth/characters`, bearer(refreshed.json.access_token));
      expect(list.json.data.map((c: { id: string }) => c.id)).toEqual([ann]);
      expect((await call('GET', `${ts.api}/oauth/characters/${ann}`, bearer(refreshed.json.access_token))).status).toBe(200);
      const hidden = await call('GET', `${ts.api}/oauth/characters/${bo}`, bearer(refreshed.json.access_token));
      expect(hidden.status).toBe(404);
      // Exactly as an id that does not exist at all.
      const unknown = await call('GET', `${ts.api}/oauth/characters/char_00000000000000000000000000000000`, bearer(refreshed.json.access_token));
      expect(hidden.json).toEqual(unknown.json);
      // API keys are never restricted.
      expect((await call('GET', `${ts.api}/characters/${bo}`, { key: owner.key })).status).toBe(200);
    });

    it('re-consent shows the grant\'s choice and keeps it unless changed; "All" lists every character and echoes nothing', async () => {
      const kept = await consent(undefined, {});
      expect(checkbox(kept.html, ann)).toContain(' checked');
      expect(kept.html).toMatch(/id="characters-only"[^>]* checked/);
      expect(kept.tokens.authorization_details).toEqual([{ type: 'serika_characters', ids: [ann] }]);
      // A consent without the characters scope leaves the choice alone and shows no fieldset.
      const profileOnly = await consent(undefined, {}, 'profile');
      expect(profileOnly.html).not.toContain('Which characters');
      expect(profileOnly.tokens).not.toHaveProperty('authorization_details');
      const all = await consent(undefined, { characters: 'all' });
      expect(all.tokens).not.toHaveProperty('authorization_details');
      expect((await introspect(all.tokens.access_token)).authorization_details).toBeUndefined();
      const list = await call('GET', `${ts.api}/oauth/characters`, bearer(all.tokens.access_token));
      expect(list.json.data.map((c: { id: string }) => c.id)).toEqual([ann, bo]);
    });

    it('malformed serika_characters → invalid_authorization_details, at authorize and device authorization; the metadata lists the type', async () => {
      const bad = [
        '[{"type":"serika_characters"}]',
        '[{"type":"serika_characters","ids":"char_1"}]',
        '[{"type":"serika_characters","ids":[42]}]',
        '[{"type":"serika_characters","ids":["has space"]}]',
        only(ann) + ',',
        JSON.stringify([{ type: 'serika_characters', ids: [ann] }, { type: 'serika_characters', ids: [bo] }]),
      ];
      for (const details of bad) {
        const response = await agent.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'characters', authorization_details: details })));
        expect(response.status, details).toBe(303);
        expect(new URL(response.headers.get('location')!).searchParams.get('error')).toBe('invalid_authorization_details');
        const device = await call('POST', `${ts.api}/oauth/device_authorization`, { body: form({ scope: 'characters', authorization_details: details }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth() } });
        expect(device.status).toBe(400);
        expect(device.json.error).toBe('invalid_authorization_details');
      }
      // Without the characters scope there is nothing to narrow.
      const noScope = await agent.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'profile', authorization_details: only(ann) })));
      expect(new URL(noScope.headers.get('location')!).searchParams.get('error')).toBe('invalid_authorization_details');
      // Beside a budget, and with members RFC 9396 §2 defines, it is read like serika_budget: the page is shown.
      const both = JSON.stringify([{ type: 'serika_budget', tokens: 10 }, { type: 'serika_characters', ids: [bo], locations: ['https://example.com'] }]);
      const shown = await agent.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'characters', authorization_details: both })));
      expect(shown.status).toBe(200);
      for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
        expect((await call('GET', ts.url + path)).json.authorization_details_types_supported).toEqual(['serika_budget', 'serika_characters']);
      }
    });

    it('the device page pre-ticks what the device asked and grants the choice', async () => {
      const started = await call('POST', `${ts.api}/oauth/device_authorization`, { body: form({ scope: 'characters', authorization_details: only(bo) }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth() } });
      expect(started.status).toBe(200);
      const page = await agent.fetch(`/device?user_code=${started.json.user_code}`);
      const text = await page.text();
      expect(text).toContain('Which characters may Lore Keeper see?');
      expect(checkbox(text, bo)).toContain(' checked');
      expect(checkbox(text, ann)).not.toContain(' checked');
      const fields = { _csrf: hiddenField(text, '_csrf'), user_code: hiddenField(text, 'user_code'), confirmation: hiddenField(text, 'confirmation'), decision: 'allow', characters: 'only', character_ids: bo };
      expect((await agent.fetch('/device/decision', { form: fields })).status).toBe(200);
      const tokens = await tokenRequest(ts, form({ grant_type: DEVICE, device_code: started.json.device_code }), auth());
      expect(tokens.json.authorization_details).toEqual([{ type: 'serika_characters', ids: [bo] }]);
      expect((await call('GET', `${ts.api}/oauth/characters/${ann}`, bearer(tokens.json.access_token))).status).toBe(404);
    });

    it('the connected-apps card changes the choice and the next call obeys', async () => {
      const { tokens } = await consent(undefined, { characters: 'only', character_ids: ann });
      const get = async (id: string) => (await call('GET', `${ts.api}/oauth/characters/${id}`, bearer(tokens.access_token))).status;
      expect(await get(bo)).toBe(404);
      const card = await (await agent.fetch('/dashboard/apps')).text();
      expect(card).toContain('Sees only: Ann.');
      const saved = await agent.fetch(`/dashboard/apps/${encodeURIComponent(app.clientId)}/characters`, { form: { _csrf: hiddenField(card, '_csrf'), characters: 'only', character_ids: bo } });
      expect(saved.status).toBe(303);
      expect(await get(bo)).toBe(200);
      expect(await get(ann)).toBe(404);
      expect((await introspect(tokens.access_token)).authorization_details).toEqual([{ type: 'serika_characters', ids: [bo] }]);
      const audited = await ts.services.storage.db.selectFrom('audit_events').select('detail').where('user_id', '=', owner.userId).where('type', '=', 'grant.characters_changed').orderBy('created_at', 'desc').execute();
      expect(audited.map((e) => JSON.parse(e.detail) as unknown)).toContainEqual({ to: 1 });
      // Another user's character cannot be ticked into the choice.
      const stranger = (await call('POST', `${ts.api}/characters`, { key: (await userWithSession(ts)).user.key, json: { name: 'Zed' } })).json.id as string;
      await agent.fetch(`/dashboard/apps/${encodeURIComponent(app.clientId)}/characters`, { form: { _csrf: hiddenField(card, '_csrf'), characters: 'only', character_ids: stranger } });
      expect((await introspect(tokens.access_token)).authorization_details).toEqual([{ type: 'serika_characters', ids: [] }]);
      expect(await get(bo)).toBe(404);
    });

    it('a token that outlives its grant sees no character, never all (fail closed)', async () => {
      const made = await call('POST', `${ts.api}/oauth/clients`, {
        key: owner.key,
        json: { name: 'Narrowing App', redirectUris: ['https://narrow.example.com/cb'], scopes: ['profile', 'characters'], grantTypes: ['authorization_code', 'refresh_token'] },
      });
      const narrowing = { clientId: made.json.clientId, clientSecret: made.json.clientSecret, redirectUri: 'https://narrow.example.com/cb', scopes: ['profile', 'characters'] };
      const { tokens } = await consent(undefined, { characters: 'only', character_ids: ann }, 'profile characters', narrowing);
      // A refresh narrowed to `characters`: its access token does not hold `profile`.
      const narrowed = await tokenRequest(ts, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, scope: 'characters' }), { authorization: basic(narrowing.clientId, narrowing.clientSecret) });
      expect(narrowed.status).toBe(200);
      // The owner takes `profile` from the app: the grant holding it ends; the narrowed token is not revoked with it.
      const patched = await call('PATCH', `${ts.api}/oauth/clients/${narrowing.clientId}`, { key: owner.key, json: { scopes: ['characters'] } });
      expect(patched.status).toBe(200);
      expect(await ts.services.storage.db.selectFrom('oauth_grants').select('user_id').where('client_id', '=', narrowing.clientId).execute()).toEqual([]);
      const list = await call('GET', `${ts.api}/oauth/characters`, bearer(narrowed.json.access_token));
      if (list.status === 200) expect(list.json.data).toEqual([]);
      else expect(list.status).toBe(401);
      expect([401, 404]).toContain((await call('GET', `${ts.api}/oauth/characters/${bo}`, bearer(narrowed.json.access_token))).status);
    });

    it('token exchange narrows characters only: wider is refused, the child sees its slice, introspection shows it', async () => {
      const exchange = (subject: string, details: string) => tokenRequest(ts, form({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS, authorization_details: details }), auth());
      const restricted = (await consent(undefined, { characters: 'only', character_ids: ann })).tokens.access_token as string;
      const wider = await exchange(restricted, only(ann, bo));
      expect(wider.status).toBe(400);
      expect(wider.json.error).toBe('invalid_authorization_details');
      const same = await exchange(restricted, only(ann));
      expect(same.status).toBe(200);
      expect(same.json.authorization_details).toEqual([{ type: 'serika_characters', ids: [ann] }]);

      const everything = (await consent(undefined, { characters: 'all' })).tokens.access_token as string;
      const child = await exchange(everything, only(bo));
      expect(child.status).toBe(200);
      expect(child.json.authorization_details).toEqual([{ type: 'serika_characters', ids: [bo] }]);
      expect((await introspect(child.json.access_token)).authorization_details).toEqual([{ type: 'serika_characters', ids: [bo] }]);
      expect((await call('GET', `${ts.api}/oauth/characters/${ann}`, bearer(child.json.access_token))).status).toBe(404);
      expect((await call('GET', `${ts.api}/oauth/characters/${bo}`, bearer(child.json.access_token))).status).toBe(200);
      // A grandchild without details keeps its parent's slice, and may not widen it.
      const grandchild = await exchange(child.json.access_token, '[]');
      expect(grandchild.json.authorization_details).toEqual([{ type: 'serika_characters', ids: [bo] }]);
      expect((await exchange(child.json.access_token, only(ann))).json.error).toBe('invalid_authorization_details');
      expect((await call('GET', `${ts.api}/oauth/characters/${ann}`, bearer(grandchild.json.access_token))).status).toBe(404);
    });
  });
});
