import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sortableId } from '../../src/security/secrets.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { PASSWORD, hiddenField, registerClient, signIn, type Agent, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const at = (iso: string) => Date.parse(iso);

/** SPEC §12: the Audit page's user, app and date filters; and the console's pages kept out of the OpenAPI document. */
describe.each(DIALECTS)('the admin console, filters and documentation (%s)', (dialect) => {
  let ts: TestServer;
  let admin: Seeded;
  let agent: Agent;
  let alice: Seeded;
  let bob: Seeded;
  let appX: TestClient;
  let appY: TestClient;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    admin = await seedUser(ts, 'audit_admin');
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
    agent = await signIn(ts, admin.username);
    const page = await (await agent.fetch('/admin/reauth?return_to=%2Fadmin%2Faudit')).text();
    expect((await agent.fetch('/admin/reauth', { form: { _csrf: hiddenField(page, '_csrf'), return_to: '/admin/audit', proof: PASSWORD } })).status).toBe(303);

    alice = await seedUser(ts, 'audit_alice');
    bob = await seedUser(ts, 'audit_bob');
    appX = await registerClient(ts, alice, { name: 'App X', scopes: ['profile'] });
    appY = await registerClient(ts, bob, { name: 'App Y', scopes: ['profile'] });
    // Events of March 2024, each with a marker to find it by: who, which app, when (UTC).
    const events: Array<[string, Seeded, TestClient, string]> = [
      ['mk1x', alice, appX, '2024-03-01T23:59:59.999Z'],
      ['mk2x', alice, appX, '2024-03-02T00:00:00.000Z'],
      ['mk3x', bob, appX, '2024-03-02T12:00:00.000Z'],
      ['mk4x', alice, appY, '2024-03-02T23:59:59.999Z'],
      ['mk5x', bob, appY, '2024-03-03T00:00:00.000Z'],
    ];
    await ts.services.storage.db
      .insertInto('audit_events')
      .values(events.map(([marker, who, app, iso]) => ({ id: sortableId('evt_', at(iso)), type: 'grant.created', user_id: who.userId, client_id: app.clientId, ip: '192.0.2.1', detail: JSON.stringify({ marker }), created_at: at(iso), actor_id: null })))
      .execute();
  });
  afterAll(async () => ts?.close());

  /** The markers of the events the Audit page lists for a query, in its order (newest first). */
  const listed = async (query: Record<string, string>): Promise<string[]> => {
    const response = await agent.fetch(`/admin/audit?${new URLSearchParams(query).toString()}`);
    expect(response.status).toBe(200);
    return [...(await response.text()).matchAll(/mk\dx/g)].map((m) => m[0]);
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('filters by date: from and to are UTC days, the "to" day included', async () => {
      expect(await listed({ from: '2024-03-02', to: '2024-03-02' })).toEqual(['mk4x', 'mk3x', 'mk2x']);
      expect(await listed({ from: '2024-03-02', to: '2024-03-03' })).toEqual(['mk5x', 'mk4x', 'mk3x', 'mk2x']);
      expect(await listed({ to: '2024-03-01' })).toEqual(['mk1x']);
      // Open-ended: from a day on (the setup's own events of today carry no marker).
      expect(await listed({ from: '2024-03-03' })).toEqual(['mk5x']);
      // A value that is not a date is ignored, not taken as "no events".
      expect(await listed({ from: 'yesterday', to: '2024-03-01' })).toEqual(['mk1x']);
    });

    it("filters by app (its client_id) and by user (a username); an unknown user's list is empty", async () => {
      expect(await listed({ app: appX.clientId })).toEqual(['mk3x', 'mk2x', 'mk1x']);
      expect(await listed({ app: appY.clientId })).toEqual(['mk5x', 'mk4x']);
      expect(await listed({ user: alice.username })).toEqual(['mk4x', 'mk2x', 'mk1x']);
      expect(await listed({ user: bob.username })).toEqual(['mk5x', 'mk3x']);
      expect(await listed({ user: 'nobody_here' })).toEqual([]);
      const page = await (await agent.fetch('/admin/audit?user=nobody_here')).text();
      expect(page).not.toContain('data-event="account.created"');
    });

    it('combines the filters', async () => {
      expect(await listed({ user: alice.username, app: appX.clientId })).toEqual(['mk2x', 'mk1x']);
      expect(await listed({ user: alice.username, app: appX.clientId, from: '2024-03-02' })).toEqual(['mk2x']);
      expect(await listed({ user: bob.username, app: appY.clientId, to: '2024-03-02' })).toEqual([]);
      expect(await listed({ user: bob.username, type: 'grant.created', from: '2024-03-02', to: '2024-03-02' })).toEqual(['mk3x']);
    });

    it("documents the admin API in /docs and none of the console's pages (a non-admin gets their 404)", async () => {
      const doc = await call('GET', `${ts.url}/docs/json`);
      expect(doc.status).toBe(200);
      const paths = Object.keys(doc.json.paths as Record<string, unknown>);
      expect(paths.filter((p) => p.startsWith('/admin/api/')).sort()).toEqual(
        [
          '/admin/api/clients',
          '/admin/api/clients/{clientId}/suspend',
          '/admin/api/clients/{clientId}/unsuspend',
          '/admin/api/clients/{clientId}/unverify',
          '/admin/api/clients/{clientId}/verify',
          '/admin/api/users',
          '/admin/api/users/{id}/suspend',
          '/admin/api/users/{id}/unsuspend',
        ].sort(),
      );
      expect(paths.filter((p) => (p === '/admin' || p.startsWith('/admin/')) && !p.startsWith('/admin/api/'))).toEqual([]);
      expect(JSON.stringify((await call('GET', `${ts.url}/docs/openapi.json`)).json)).not.toMatch(/"\/admin\/(users|apps|audit|usage|reauth|signing-keys)/);
      // The pages themselves are still there for an admin.
      expect((await agent.fetch('/admin/users')).status).toBe(200);
    });
  });
});
