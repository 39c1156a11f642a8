import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, PASSWORD, authorizeUrl, basic, form, hiddenField, pkce, registerClient, standardParams, tokenRequest, userWithSession } from '../helpers/oauth.js';
import { call, captureLog, seedUser, type Seeded, startTestServer, type TestServer } from '../helpers/server.js';
import { pruneOnce } from '../../src/pruner.js';

const DAY_MS = 86_400_000;

/** Issue 30's audit events, their log lines whatever LOG_LEVEL is, and their pruning (SPEC §1 AUDIT_RETENTION_DAYS). */
describe.each(DIALECTS)('the audit trail (%s)', (dialect) => {
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  const log = captureLog();
  const lines = () => log.lines.map((l) => JSON.parse(l) as Record<string, any>);
  const auditLines = (type: string) => lines().filter((l) => l.msg === `audit: ${type}`);

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    // LOG_LEVEL=error: no request line, no info line of any kind, but the audit lines.
    ts = await startTestServer(dialect, { LOG_LEVEL: 'error', RATE_LIMIT_TOKEN: '0', AUDIT_RETENTION_DAYS: '30' }, { logStream: log.logStream });
    ({ user: owner, agent } = await userWithSession(ts, `trail_${dialect}`));
  });
  afterAll(async () => ts?.close());

  const events = async (type: string) =>
    (await ts.services.storage.db.selectFrom('audit_events').selectAll().where('type', '=', type).orderBy('created_at').orderBy('id').execute()).map((r) => ({
      ...r,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));

  const login = async (username: string, password: string) => {
    const fresh = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await fresh.fetch('/login')).text();
    return fresh.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username, password } });
  };

  describe.skipIf(!dialectAvailable(dialect))('events', () => {
    it('records sign-ins and failed ones: the account when it exists, else only the address (a typed name may be a password); never the password', async () => {
      expect((await events('sign_in.succeeded')).map((e) => e.user_id)).toEqual([owner.userId]);
      const wrong = await login(owner.username, 'not-the-password-1234');
      expect(wrong.status).toBe(401);
      const unknown = `nobody_${'x'.repeat(120)}`;
      expect((await login(unknown, 'another-wrong-password-5678')).status).toBe(401);

      const failed = await events('sign_in.failed');
      expect(failed.map((e) => [e.user_id, e.detail.username])).toEqual([
        [owner.userId, owner.username],
        [null, undefined],
      ]);
      expect(JSON.stringify(await events('sign_in.failed'))).not.toContain('nobody_');
      expect(failed[0]!.ip).toBe('127.0.0.1');
      const everything = log.lines.join('') + JSON.stringify(await ts.services.storage.db.selectFrom('audit_events').selectAll().execute());
      for (const password of ['not-the-password-1234', 'another-wrong-password-5678', PASSWORD]) expect(everything).not.toContain(password);

      // At LOG_LEVEL=error the audit lines are written, with the request's id, and nothing else at info is.
      const [line] = auditLines('sign_in.failed');
      expect(line).toMatchObject({ level: 30, reqId: wrong.headers.get('x-request-id'), audit: { type: 'sign_in.failed', userId: owner.userId, username: owner.username } });
      expect(lines().filter((l) => l.level === 30 && !String(l.msg).startsWith('audit: '))).toEqual([]);
      expect(auditLines('sign_in.succeeded')).toHaveLength(1);
    });

    it("a stranger's failed sign-ins cannot flood an account's Activity: each up to the slowdown, then its start and every doubling", async () => {
      const target = await seedUser(ts);
      for (let i = 0; i < 5; i++) expect((await login(target.username, `wrong password ${i}`)).status).toBe(401);
      const mine = async (type: string) => (await events(type)).filter((e) => e.user_id === target.userId);
      expect(await mine('sign_in.failed')).toHaveLength(3);
      expect((await mine('sign_in.throttled')).map((e) => e.detail.failures)).toEqual([3, 4]);
    });

    it('records an RFC 7009 revocation with the client and token type, only when a token was revoked', async () => {
      const client = await registerClient(ts, owner, { name: 'Revoking App' });
      const { verifier, challenge } = pkce();
      const consent = await agent.fetch(authorizeUrl(ts, standardParams(client, challenge, { prompt: 'consent' })));
      const html = await consent.text();
      const back = await agent.fetch(`${ts.api}/oauth/authorize/decision`, { form: { _csrf: hiddenField(html, '_csrf'), request_id: hiddenField(html, 'request_id'), decision: 'allow' } });
      const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
      const auth = { authorization: basic(client.clientId, client.clientSecret!) };
      const tokens = (await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }), auth)).json;
      const revoke = (token: string) => call('POST', `${ts.api}/oauth/revoke`, { body: form({ token }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth } });

      expect((await revoke(tokens.access_token)).status).toBe(200);
      expect((await revoke(tokens.access_token)).status).toBe(200); // already revoked: no second event
      expect((await revoke('serika_at_unknown')).status).toBe(200);
      expect((await revoke(tokens.refresh_token)).status).toBe(200);
      const revoked = await events('token.revoked');
      expect(revoked.map((e) => [e.user_id, e.client_id, e.detail.tokenType])).toEqual([
        [owner.userId, client.clientId, 'access_token'],
        [owner.userId, client.clientId, 'refresh_token'],
      ]);
      const everything = log.lines.join('');
      for (const secret of [tokens.access_token, tokens.refresh_token, client.clientSecret!]) expect(everything).not.toContain(secret);
      expect(auditLines('token.revoked').map((l) => l.audit.clientId)).toEqual([client.clientId, client.clientId]);
    });

    it('records clients created, their redirect URIs changed and deleted, through the API and the dashboard form', async () => {
      const client = await registerClient(ts, owner, { name: 'Changing App', redirectUris: ['https://one.example/cb'] });
      const patch = (json: unknown) => call('PATCH', `${ts.api}/oauth/clients/${client.clientId}`, { key: owner.key, json });
      expect((await patch({ name: 'Renamed App' })).status).toBe(200); // no redirect URI change: no event
      expect((await patch({ redirectUris: ['https://one.example/cb', 'https://evil.example/cb'] })).status).toBe(200);
      expect((await patch({ redirectUris: ['https://one.example/cb', 'https://evil.example/cb'] })).status).toBe(200); // the same list again
      expect((await call('DELETE', `${ts.api}/oauth/clients/${client.clientId}`, { key: owner.key })).status).toBe(204);

      const page = await (await agent.fetch('/dashboard/clients')).text();
      const created = await agent.fetch('/dashboard/clients', { form: { _csrf: hiddenField(page, '_csrf'), name: 'Form App', redirect_uri: 'https://form.example/cb', scope: 'profile', type: 'confidential' } });
      expect(created.status).toBe(201);
      const formId = /<code id="client-id">([^<]+)<\/code>/.exec(await created.text())![1]!;
      const detail = await (await agent.fetch(`/dashboard/clients/${formId}`)).text();
      const saved = await agent.fetch(`/dashboard/clients/${formId}`, { form: { _csrf: hiddenField(detail, '_csrf'), name: 'Form App', redirect_uri: 'https://moved.example/cb', scope: 'profile', id_token_signing_alg: 'RS256' } });
      expect(saved.status).toBe(200);
      const confirm = await (await agent.fetch(`/dashboard/clients/${formId}/delete`)).text();
      expect((await agent.fetch(`/dashboard/clients/${formId}/delete`, { form: { _csrf: hiddenField(confirm, '_csrf') } })).status).toBe(303);

      const clientEvents = (await ts.services.storage.db.selectFrom('audit_events').selectAll().where('type', 'like', 'client.%').where('type', '!=', 'client.secret_reset').orderBy('created_at').orderBy('id').execute())
        .filter((e) => e.client_id === client.clientId || e.client_id === formId)
        .map((e) => [e.type, e.client_id, JSON.parse(e.detail)]);
      expect(clientEvents).toEqual([
        ['client.created', client.clientId, expect.objectContaining({ name: 'Changing App' })],
        ['client.redirect_uris_changed', client.clientId, { list: 'redirectUris', from: 1, to: 2, added: 'https://evil.example/cb', removed: '' }],
        ['client.deleted', client.clientId, { name: 'Renamed App' }],
        ['client.created', formId, expect.objectContaining({ name: 'Form App' })],
        ['client.redirect_uris_changed', formId, { list: 'redirectUris', from: 1, to: 1, added: 'https://moved.example/cb', removed: 'https://form.example/cb' }],
        ['client.deleted', formId, { name: 'Form App' }],
      ]);

      const activity = await (await agent.fetch('/dashboard/activity')).text();
      expect(activity).toContain('Redirect URIs of an OAuth client changed');
      expect(activity).toContain('<code>https://evil.example/cb</code>');
      expect(activity).toContain('OAuth client deleted');
      expect(activity).toContain('Renamed App'); // the deleted client's name, from the event
    });

    it('records spending limit changes, from and to, from a consent and from the dashboard card', async () => {
      const app = await registerClient(ts, owner, { name: 'Budgeted App', scopes: ['profile', 'generations'] });
      const consent = async (limit: Record<string, string>) => {
        const page = await agent.fetch(authorizeUrl(ts, standardParams(app, pkce().challenge, { scope: 'generations', prompt: 'consent' })));
        const html = await page.text();
        const back = await agent.fetch(`${ts.api}/oauth/authorize/decision`, { form: { _csrf: hiddenField(html, '_csrf'), request_id: hiddenField(html, 'request_id'), decision: 'allow', ...limit } });
        expect(back.status).toBe(303);
      };
      const card = async (limit: Record<string, string>) => {
        const apps = await (await agent.fetch('/dashboard/apps')).text();
        expect((await agent.fetch(`/dashboard/apps/${app.clientId}/budget`, { form: { _csrf: hiddenField(apps, '_csrf'), ...limit } })).status).toBe(303);
      };
      await consent({ budget: 'limit', budget_tokens: '50000', budget_period: 'month' });
      await consent({ budget: 'limit', budget_tokens: '50000', budget_period: 'month' }); // the same limit again: no event
      await card({ budget: 'limit', budget_tokens: '1000', budget_images: '5', budget_period: 'day' });
      await card({ budget: 'none' });

      const changes = (await events('budget.changed')).filter((e) => e.client_id === app.clientId);
      expect(changes.map((e) => e.detail)).toEqual([
        { fromTokens: null, fromImages: null, fromPeriod: null, toTokens: 50000, toImages: null, toPeriod: 'month' },
        { fromTokens: 50000, fromImages: null, fromPeriod: 'month', toTokens: 1000, toImages: 5, toPeriod: 'day' },
        { fromTokens: 1000, fromImages: 5, fromPeriod: 'day', toTokens: null, toImages: null, toPeriod: null },
      ]);
      expect(changes.every((e) => e.user_id === owner.userId && e.ip === '127.0.0.1')).toBe(true);
      expect(auditLines('budget.changed').every((l) => typeof l.reqId === 'string')).toBe(true);
      const activity = await (await agent.fetch('/dashboard/activity')).text();
      expect(activity).toContain('Spending limit of a connected app changed: from 50,000 tokens per month to 1,000 tokens and 5 images per day');
      expect(activity).toContain('from 1,000 tokens and 5 images per day to no limit');
    });
  });

  describe.skipIf(!dialectAvailable(dialect))('pruning', () => {
    const insert = async (n: number, createdAt: number, prefix: string) => {
      const rows = Array.from({ length: n }, (_, i) => ({ id: `${prefix}_${i}`, type: 'sign_in.failed', user_id: null, client_id: null, ip: null, detail: '{}', created_at: createdAt }));
      for (let i = 0; i < rows.length; i += 500) await ts.services.storage.db.insertInto('audit_events').values(rows.slice(i, i + 500)).execute();
    };
    const count = async (prefix: string) =>
      Number((await ts.services.storage.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('id', 'like', `${prefix}_%`).executeTakeFirstOrThrow()).n);

    it('deletes old events in batches, running what waits between them', async () => {
      const cutoff = 1_000_000; // before any real event
      await insert(2_500, cutoff - 1, 'batch_old');
      await insert(3, cutoff, 'batch_kept');
      const between: number[] = [];
      const deleted = await ts.services.audit.pruneBefore(cutoff, 1_000, async () => {
        between.push(await count('batch_old'));
      });
      expect(deleted).toBe(2_500);
      expect(between).toEqual([1_500, 500]);
      expect(await count('batch_old')).toBe(0);
      expect(await count('batch_kept')).toBe(3);
      await ts.services.storage.db.deleteFrom('audit_events').where('id', 'like', 'batch_kept_%').execute();
    });

    it('the pruner deletes events older than AUDIT_RETENTION_DAYS and keeps the rest', async () => {
      await insert(3, Date.now() - 31 * DAY_MS, 'retention_old');
      await insert(2, Date.now() - 29 * DAY_MS, 'retention_kept');
      const counts = await pruneOnce(ts.services);
      expect(counts?.auditEvents).toBe(3);
      expect(await count('retention_old')).toBe(0);
      expect(await count('retention_kept')).toBe(2);
    });
  });
});
