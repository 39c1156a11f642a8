import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable, failInserts } from '../helpers/databases.js';
import { authorizeUrl, basic, form, hiddenField, pkce, registerClient, standardParams, tokenRequest, userWithSession, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

const asked = (details: unknown) => JSON.stringify(details);

/** SPEC §10: the spending limit on the consent page, from RFC 9396 authorization_details to the token response and introspection. */
describe.each(DIALECTS)('budgets on the consent page (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let app: TestClient;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect, { RATE_LIMIT_TOKEN: '0' });
    ({ user: owner, agent } = await userWithSession(ts, `limit_${dialect}`));
    app = await registerClient(ts, owner, { name: 'Novel Writer', scopes: ['profile', 'generations'] });
  });
  afterAll(async () => ts?.close());

  /** Authorize with the details, post the page's form with `limit` fields changed, and redeem the code. */
  async function consent(details: string | undefined, limit: Record<string, string> | null) {
    const { verifier, challenge } = pkce();
    const page = await agent.fetch(authorizeUrl(ts, standardParams(app, challenge, { scope: 'generations', prompt: 'consent', ...(details ? { authorization_details: details } : {}) })));
    const html = await page.text();
    expect(page.status, html).toBe(200);
    const fields: Record<string, string> = { _csrf: hiddenField(html, '_csrf'), request_id: hiddenField(html, 'request_id'), decision: 'allow' };
    if (limit) Object.assign(fields, limit);
    const back = await agent.fetch(`${ts.api}/oauth/authorize/decision`, { form: fields });
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
    const tokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: app.redirectUri, code_verifier: verifier }), { authorization: basic(app.clientId, app.clientSecret!) });
    return { html, tokens };
  }

  describe.skipIf(!dialectAvailable(dialect))('the flow', () => {
    it('pre-fills what the app asks; the user lowers it; the token response and introspection carry what was granted', async () => {
      const { html, tokens } = await consent(asked([{ type: 'serika_budget', tokens: 100000, images: 20, period: 'month' }]), { budget: 'limit', budget_tokens: '50000', budget_images: '20', budget_period: 'month' });
      expect(html).toContain('Spending limit');
      expect(html).toContain('Novel Writer asks for a limit of 100,000 tokens and 20 images per month');
      expect(html).toMatch(/id="budget_tokens"[^>]*value="100000"/);
      expect(tokens.status).toBe(200);
      expect(tokens.json.authorization_details).toEqual([{ type: 'serika_budget', tokens: 50000, images: 20, period: 'month' }]);
      const info = await fetch(`${ts.api}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(app.clientId, app.clientSecret!) },
        body: form({ token: tokens.json.access_token }),
      }).then((r) => r.json() as Promise<Record<string, unknown>>);
      expect(info.authorization_details).toEqual([{ type: 'serika_budget', tokens: 50000, images: 20, period: 'month' }]);
      expect(info.budget_remaining).toEqual({ tokens: 50000, images: 20, resets_at: expect.any(Number) });
    });

    it('a refresh keeps the budget; re-consent without details keeps it; a bigger ask is a step-up in words', async () => {
      const again = await consent(undefined, null);
      expect(again.html).toMatch(/id="budget_tokens"[^>]*value="50000"/);
      expect(again.tokens.json.authorization_details).toEqual([{ type: 'serika_budget', tokens: 50000, images: 20, period: 'month' }]);
      const refreshed = await tokenRequest(ts, form({ grant_type: 'refresh_token', refresh_token: again.tokens.json.refresh_token }), { authorization: basic(app.clientId, app.clientSecret!) });
      expect(refreshed.json.authorization_details).toEqual([{ type: 'serika_budget', tokens: 50000, images: 20, period: 'month' }]);
      const step = await consent(asked([{ type: 'serika_budget', tokens: 200000, images: 20, period: 'month' }]), { budget: 'none' });
      expect(step.html).toContain('Novel Writer</strong> asks to raise its limit from 50,000 tokens and 20 images per month to 200,000 tokens and 20 images per month');
      // The user chose "No limit": the grant has no budget any more.
      expect(step.tokens.json).not.toHaveProperty('authorization_details');
    });

    it('malformed details → invalid_authorization_details by redirect; the metadata lists the type', async () => {
      for (const details of ['{"type":"serika_budget"}', asked([{ type: 'money', amount: 5 }]), asked([{ type: 'serika_budget', tokens: -5 }]), asked([{ type: 'serika_budget', tokens: 1.5 }]), asked([{ type: 'serika_budget', tokens: 5, period: 'week' }])]) {
        const response = await agent.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'generations', authorization_details: details })));
        expect(response.status).toBe(303);
        const location = new URL(response.headers.get('location')!);
        expect(location.searchParams.get('error')).toBe('invalid_authorization_details');
      }
      expect((await call('GET', `${ts.url}/.well-known/oauth-authorization-server`)).json.authorization_details_types_supported).toEqual(['serika_budget', 'serika_characters']);
    });

    it('a bad number on the page is refused with a clear page, never a 5xx', async () => {
      const page = await agent.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'generations', prompt: 'consent' })));
      const html = await page.text();
      const reply = await agent.fetch(`${ts.api}/oauth/authorize/decision`, {
        form: { _csrf: hiddenField(html, '_csrf'), request_id: hiddenField(html, 'request_id'), decision: 'allow', budget: 'limit', budget_tokens: '-3', budget_period: 'day' },
      });
      expect(reply.status).toBe(400);
      expect(await reply.text()).toContain('whole number');
    });

    it('an Allow is stored with its code or not at all: a code that cannot be written leaves no grant and no limit', async () => {
      const { user, agent: fresh } = await userWithSession(ts);
      const page = await fresh.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'generations', prompt: 'consent' })));
      const html = await page.text();
      const db = ts.services.storage.db;
      const restore = await failInserts(db, dialect, 'oauth_codes');
      try {
        const reply = await fresh.fetch(`${ts.api}/oauth/authorize/decision`, {
          form: { _csrf: hiddenField(html, '_csrf'), request_id: hiddenField(html, 'request_id'), decision: 'allow', budget: 'limit', budget_tokens: '500', budget_period: 'day' },
        });
        expect(reply.status).toBeGreaterThanOrEqual(500);
      } finally {
        await restore();
      }
      expect(await db.selectFrom('oauth_grants').selectAll().where('user_id', '=', user.userId).executeTakeFirst()).toBeUndefined();
      expect(await db.selectFrom('oauth_budgets').selectAll().where('user_id', '=', user.userId).executeTakeFirst()).toBeUndefined();
    });
  });
});
