import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { hiddenField, PASSWORD, signIn, type Agent } from '../helpers/oauth.js';
import { seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { PlatformUsageReport, REPORT_FRESH_MS, REPORT_STALE_MS } from '../../src/generation/platform-usage.js';
import { until } from '../helpers/until.js';

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

  it.skipIf(!dialectAvailable(dialect))('serves a report while fresh, a stale one while the next is computed, and waits past the stale limit', async () => {
    const user = await seedUser(ts, `reported_${dialect}`);
    let clock = Date.now();
    const report = new PlatformUsageReport(ts.services.storage.db, () => clock);
    const day = new Date(clock).toISOString().slice(0, 10);
    let next = 0;
    const spend = async (tokens: number) =>
      ts.services.storage.db
        .insertInto('usage_records')
        .values({ id: `ur_report_${dialect}_${++next}`, user_id: user.userId, client_id: null, client_name: null, api_key_id: null, endpoint: 'chat/completions', model: 'm', prompt_tokens: tokens, completion_tokens: 0, images: 0, status: 200, latency_ms: 1, day, created_at: clock })
        .execute();
    const tokensOf = (r: Awaited<ReturnType<PlatformUsageReport['read']>>) => r.report.topUsers.find((u) => u.userId === user.userId)?.tokens ?? 0;
    await spend(5);
    const first = await report.read();
    expect(tokensOf(first)).toBe(5);
    await spend(10);
    // Fresh: the same report, not recomputed.
    clock += REPORT_FRESH_MS - 1;
    expect(await report.read()).toBe(first);
    // Stale: still the same one at once, while the next is computed; then the next.
    clock += 2;
    expect(await report.read()).toBe(first);
    await until(async () => tokensOf(await report.read()) === 15, { timeoutMs: 10_000, intervalMs: 10, message: 'the refreshed report' });
    // Past the stale limit: the page waits for a new report.
    await spend(20);
    clock += REPORT_STALE_MS;
    const late = await report.read();
    expect(tokensOf(late)).toBe(35);
    expect(late.at).toBe(clock);
  });
});
