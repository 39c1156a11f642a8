import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { hiddenField, PASSWORD, signIn, type Agent } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';

/** SPEC §12: the admin console's Usage page, the whole platform's last 30 days. */
describe.each(DIALECTS)('admin Usage page (%s)', (dialect) => {
  let ts: TestServer;
  let agent: Agent;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    ts = await startTestServer(dialect);
    const admin = await seedUser(ts, `usage_admin_${dialect}`);
    await ts.services.userAdmin.setRole(admin.userId, 'admin', null);
    agent = await signIn(ts, admin.username);
    const page = await (await agent.fetch('/admin/reauth?return_to=%2Fadmin%2Fusage')).text();
    expect((await agent.fetch('/admin/reauth', { form: { _csrf: hiddenField(page, '_csrf'), return_to: '/admin/usage', proof: PASSWORD } })).status).toBe(303);
  });
  afterAll(async () => ts?.close());

  it.skipIf(!dialectAvailable(dialect))('ranks the top users by tokens, each under their username', async () => {
    const heavy = await seedUser(ts, `heavy_${dialect}`);
    const light = await seedUser(ts, `light_${dialect}`);
    const now = Date.now();
    const day = new Date(now).toISOString().slice(0, 10);
    const record = (id: string, user_id: string, tokens: number) => ({ id, user_id, client_id: null, client_name: null, api_key_id: null, endpoint: 'chat/completions', model: 'm', prompt_tokens: tokens, completion_tokens: 0, images: 0, status: 200, latency_ms: 1, day, created_at: now });
    await ts.services.storage.db
      .insertInto('usage_records')
      .values([record('ur_test_1', heavy.userId, 900), record('ur_test_2', heavy.userId, 100), record('ur_test_3', light.userId, 7)])
      .execute();
    const response = await agent.fetch('/admin/usage');
    expect(response.status).toBe(200);
    const top = (await response.text()).split('<h2>Top users</h2>')[1]!;
    const rows = [...top.matchAll(/<tr><td><a href="[^"]+">([^<]+)<\/a><\/td><td>([\d,]+)<\/td>/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([
      [heavy.username, '1,000'],
      [light.username, '7'],
    ]);
  });
});
